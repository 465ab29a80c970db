package dev.tableflip;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import jnr.constants.platform.Fcntl;
import jnr.constants.platform.OpenFlags;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;
import jnr.posix.CmsgHdr;
import jnr.posix.MsgHdr;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/**
 * The one place that calls the operating system directly: descriptor passing over UNIX
 * sockets ({@code SCM_RIGHTS}), peer credentials and socket introspection. Everything else
 * in the library is plain Java.
 */
final class Native {

	private static final int SOL_SOCKET = 1;

	private static final int SCM_RIGHTS = 1;

	private static final int SO_TYPE = 3;

	private static final int SO_PEERCRED = 17;

	private static final int SO_ACCEPTCONN = 30;

	private static final int SO_DOMAIN = 39;

	private static final int MSG_CTRUNC = 0x8;

	private static final int FD_CLOEXEC = 1;

	private static final int MSG_CMSG_CLOEXEC = 0x40000000;

	private static final int MSG_NOSIGNAL = 0x4000;

	private static final int SOCK_CLOEXEC = 0x80000;

	/** {@code sizeof(struct sockaddr_storage)}. */
	private static final int SOCKADDR_STORAGE_BYTES = 128;

	static final int AF_UNIX = 1;

	static final int AF_INET = 2;

	static final int AF_INET6 = 10;

	static final int SOCK_STREAM = 1;

	private static final int RLIMIT_NICE = 13;

	private static final int PRIO_PROCESS = 0;

	/** {@code struct sched_attr}, its first version: size, policy, flags, nice, priority, runtime, deadline, period. */
	private static final int SCHED_ATTR_BYTES = 48;

	private static final long SCHED_FLAG_KEEP_POLICY = 0x08;

	/**
	 * {@code sched_setattr} and {@code sched_getattr} by number (glibc wraps them only since 2.41),
	 * or {@code null} on an architecture this library does not know them for.
	 */
	private static final long[] SCHED_ATTR_CALLS = switch (Platform.getNativePlatform().getCPU()) {
		case X86_64 -> new long[] { 314, 315 };
		case AARCH64 -> new long[] { 274, 275 };
		default -> null;
	};

	static final int SOCK_DGRAM = 2;

	/** Descriptors a single receive accepts; the handshake sends one per message. */
	private static final int MAX_FDS_PER_MESSAGE = 4;

	private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase().contains("linux");

	private static final POSIX posix = POSIXFactory.getNativePOSIX();

	private static final LibC libc = LibraryLoader.create(LibC.class).load("c");

	private Native() {
	}

	/** The C functions jnr-posix does not cover. */
	public interface LibC {

		int getsockopt(int fd, int level, int optname, @Out int[] optval, @In @Out IntByReference optlen);

		int getsockname(int fd, @Out byte[] address, @In @Out IntByReference length);

		int socket(int domain, int type, int protocol);

		int connect(int fd, @In byte[] address, int addressLength);

		@ssize_t
		long sendto(int fd, @In byte[] buffer, @size_t long length, int flags, @In byte[] address, int addressLength);

		/** {@code syscall(SYS_sched_setattr, tid, attr, flags)}. */
		long syscall(long number, long tid, @In byte[] attr, long flags);

		/** {@code syscall(SYS_sched_getattr, tid, attr, size, flags)}. */
		long syscall(long number, long tid, @Out byte[] attr, long size, long flags);

	}

	/** The credentials of the process at the other end of a connected UNIX socket. */
	record PeerCredentials(long pid, int uid) {
	}

	/** Fails unless native calls are possible here. */
	static void checkAvailable() {
		if (!posix.isNative()) {
			throw new UnsupportedEnvironmentException("tableflip could not load its native POSIX bindings (jnr-posix)",
					"See the log above for why: jnr-ffi needs its native library (jffi's 'native' jar) for this "
							+ "platform and a temporary directory it may execute from (java.io.tmpdir, not mounted noexec)");
		}
	}

	static int uid() {
		return posix.getuid();
	}

	/** {@code RLIMIT_NICE}'s soft limit: the lowest nice value this process may set is 20 minus it. */
	static long niceLimit() {
		return posix.getrlimit(RLIMIT_NICE).rlimCur();
	}

	/** Sets one thread's nice value ({@code setpriority(PRIO_PROCESS, tid, nice)}). */
	static void setNice(long tid, int nice) throws IOException {
		if (posix.setpriority(PRIO_PROCESS, (int) tid, nice) != 0) {
			throw new IOException("setpriority(" + tid + ", " + nice + ") failed: " + posix.strerror(posix.errno()));
		}
	}

	/**
	 * Sets one thread's time slice: how long it may run before a thread that wakes on its CPU takes
	 * the CPU over, in nanoseconds, or 0 for the kernel's default. Linux 6.12 and later take it
	 * ({@code sched_setattr}'s {@code sched_runtime} for a normal thread, which the EEVDF scheduler
	 * clamps to 0.1 to 100 ms); earlier kernels ignore it. The thread keeps its policy; its nice
	 * value becomes {@code nice}.
	 */
	static void setSlice(long tid, int nice, long nanos) throws IOException {
		byte[] attr = new byte[SCHED_ATTR_BYTES];
		ByteBuffer.wrap(attr)
			.order(ByteOrder.nativeOrder())
			.putInt(0, SCHED_ATTR_BYTES)
			.putLong(8, SCHED_FLAG_KEEP_POLICY)
			.putInt(16, nice)
			.putLong(24, nanos);
		if (libc.syscall(schedAttrCall(0), tid, attr, 0) != 0) {
			throw new IOException("sched_setattr(" + tid + ", nice " + nice + ", slice " + nanos + " ns) failed: "
					+ posix.strerror(posix.errno()));
		}
	}

	/** One thread's time slice in nanoseconds; 0 from a kernel that does not say (before Linux 6.12). */
	static long slice(long tid) throws IOException {
		byte[] attr = new byte[SCHED_ATTR_BYTES];
		if (libc.syscall(schedAttrCall(1), tid, attr, SCHED_ATTR_BYTES, 0) != 0) {
			throw new IOException("sched_getattr(" + tid + ") failed: " + posix.strerror(posix.errno()));
		}
		return ByteBuffer.wrap(attr).order(ByteOrder.nativeOrder()).getLong(24);
	}

	private static long schedAttrCall(int which) throws IOException {
		if (SCHED_ATTR_CALLS == null) {
			throw new IOException("sched_setattr's number is not known on " + Platform.getNativePlatform().getCPU());
		}
		return SCHED_ATTR_CALLS[which];
	}

	/**
	 * Sends all of {@code data} on a connected UNIX stream socket, with {@code fd} attached
	 * to its first byte unless it is negative.
	 */
	static void send(int socket, ByteBuffer data, int fd) throws IOException {
		ByteBuffer direct = ByteBuffer.allocateDirect(data.remaining());
		direct.put(data).flip();
		boolean attach = fd >= 0;
		while (direct.hasRemaining()) {
			MsgHdr message = posix.allocateMsgHdr();
			// jnr-posix passes the buffer's address to the kernel: it must be direct (else EFAULT).
			message.setIov(new ByteBuffer[] { direct.slice() });
			if (attach) {
				CmsgHdr control = message.allocateControl(Integer.BYTES);
				control.setLevel(SOL_SOCKET);
				control.setType(SCM_RIGHTS);
				control.setData(ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.nativeOrder()).putInt(0, fd));
			}
			int sent = posix.sendmsg(socket, message, 0);
			if (sent < 0) {
				throw new IOException("sendmsg failed: " + posix.strerror(posix.errno()));
			}
			direct.position(direct.position() + sent);
			attach = false;
		}
	}

	/**
	 * Receives up to {@code dst.remaining()} bytes from a connected UNIX stream socket,
	 * adding any descriptors that came with them to {@code fds} (close-on-exec set).
	 * @return the number of bytes read, or -1 at end of stream
	 */
	static int receive(int socket, ByteBuffer dst, List<Integer> fds) throws IOException {
		ByteBuffer direct = ByteBuffer.allocateDirect(dst.remaining());
		MsgHdr message = posix.allocateMsgHdr();
		message.setIov(new ByteBuffer[] { direct });
		message.allocateControl(Integer.BYTES * MAX_FDS_PER_MESSAGE);
		int received = posix.recvmsg(socket, message, MSG_CMSG_CLOEXEC);
		if (received < 0) {
			throw new IOException("recvmsg failed: " + posix.strerror(posix.errno()));
		}
		for (CmsgHdr control : message.getControls()) {
			if (control.getLevel() == SOL_SOCKET && control.getType() == SCM_RIGHTS) {
				ByteBuffer data = control.getData().order(ByteOrder.nativeOrder());
				while (data.remaining() >= Integer.BYTES) {
					fds.add(data.getInt());
				}
			}
		}
		if ((message.getFlags() & MSG_CTRUNC) != 0) {
			throw new IOException("more descriptors arrived in one message than the handshake allows");
		}
		if (received == 0) {
			return -1;
		}
		direct.limit(received);
		dst.put(direct);
		return received;
	}

	/** The pid and uid of the peer of a connected UNIX socket (Linux {@code SO_PEERCRED}). */
	static PeerCredentials peerCredentials(int socket) throws IOException {
		if (!LINUX) {
			throw new IOException("peer credentials are only implemented on Linux");
		}
		int[] ucred = new int[3]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
		getsockopt(socket, SO_PEERCRED, ucred);
		return new PeerCredentials(ucred[0], ucred[1]);
	}

	/** The address family of a socket ({@link #AF_INET}, {@link #AF_INET6}, {@link #AF_UNIX}...). */
	static int socketDomain(int fd) throws IOException {
		return intOption(fd, SO_DOMAIN);
	}

	/** The type of a socket ({@link #SOCK_STREAM}, {@link #SOCK_DGRAM}...). */
	static int socketType(int fd) throws IOException {
		return intOption(fd, SO_TYPE);
	}

	/** Whether a stream socket is listening. */
	static boolean isListening(int fd) throws IOException {
		return intOption(fd, SO_ACCEPTCONN) != 0;
	}

	/** A new descriptor for the same open file or socket, close-on-exec. */
	static int duplicate(int fd) throws IOException {
		int copy = posix.dup(fd);
		if (copy < 0) {
			throw new IOException("dup(" + fd + ") failed: " + posix.strerror(posix.errno()));
		}
		posix.fcntlInt(copy, Fcntl.F_SETFD, FD_CLOEXEC);
		return copy;
	}

	/** A new descriptor for the same open socket, close-on-exec, with the socket made non-blocking. */
	static int duplicateNonBlocking(int fd) throws IOException {
		int copy = posix.dup(fd);
		if (copy < 0) {
			throw new IOException("dup(" + fd + ") failed: " + posix.strerror(posix.errno()));
		}
		posix.fcntlInt(copy, Fcntl.F_SETFD, FD_CLOEXEC);
		int flags = posix.fcntl(copy, Fcntl.F_GETFL);
		if (flags < 0 || posix.fcntlInt(copy, Fcntl.F_SETFL, flags | OpenFlags.O_NONBLOCK.intValue()) < 0) {
			posix.close(copy);
			throw new IOException("cannot make descriptor " + fd + " non-blocking: " + posix.strerror(posix.errno()));
		}
		return copy;
	}

	/**
	 * The local address of a socket as {@code getsockname} gives it: {@code sockaddr_in},
	 * {@code sockaddr_in6} or {@code sockaddr_un} bytes, family first in native byte order.
	 */
	static ByteBuffer localAddress(int fd) throws IOException {
		byte[] address = new byte[SOCKADDR_STORAGE_BYTES];
		IntByReference length = new IntByReference(address.length);
		if (libc.getsockname(fd, address, length) != 0) {
			throw new IOException("getsockname(" + fd + ") failed: " + posix.strerror(posix.errno()));
		}
		return ByteBuffer.wrap(address, 0, Math.min(length.intValue(), address.length)).slice();
	}

	/** Marks a descriptor close-on-exec. */
	static void closeOnExec(int fd) {
		posix.fcntlInt(fd, Fcntl.F_SETFD, FD_CLOEXEC);
	}

	/**
	 * Sends one datagram to a UNIX datagram socket: a path, or an abstract name starting with
	 * {@code @}. The JDK has no UNIX datagram channels.
	 */
	static void sendDatagram(String socket, byte[] message) throws IOException {
		sendDatagram(socket, message, -1);
	}

	/**
	 * Sends one datagram to a UNIX datagram socket, with {@code fd} attached ({@code SCM_RIGHTS})
	 * unless it is negative: how a process hands a descriptor to systemd's store.
	 */
	static void sendDatagram(String socket, byte[] message, int fd) throws IOException {
		byte[] path = socket.getBytes(StandardCharsets.UTF_8);
		boolean abstractName = socket.startsWith("@");
		int length = 2 + path.length + (abstractName ? 0 : 1); // sun_family, sun_path (NUL-terminated unless abstract)
		if (path.length == 0 || path.length >= 108) {
			throw new IOException("'" + socket + "' is not a UNIX socket address (1 to 107 bytes)");
		}
		byte[] address = new byte[2 + 108];
		ByteBuffer.wrap(address).order(ByteOrder.nativeOrder()).putShort((short) AF_UNIX);
		System.arraycopy(path, 0, address, 2, path.length);
		if (abstractName) {
			address[2] = 0;
		}
		int datagram = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (datagram < 0) {
			throw new IOException("socket(AF_UNIX, SOCK_DGRAM) failed: " + posix.strerror(posix.errno()));
		}
		try {
			if (fd < 0) {
				if (libc.sendto(datagram, message, message.length, MSG_NOSIGNAL, address, length) < 0) {
					throw new IOException("sendto(" + socket + ") failed: " + posix.strerror(posix.errno()));
				}
				return;
			}
			// Connected, so that sendmsg needs no address: jnr-posix's MsgHdr carries none.
			if (libc.connect(datagram, address, length) < 0) {
				throw new IOException("connect(" + socket + ") failed: " + posix.strerror(posix.errno()));
			}
			send(datagram, ByteBuffer.wrap(message), fd);
		}
		finally {
			posix.close(datagram);
		}
	}

	/** Closes a raw descriptor; errors are ignored as there is nothing left to do. */
	static void close(int fd) {
		posix.close(fd);
	}

	private static int intOption(int fd, int option) throws IOException {
		int[] value = new int[1];
		getsockopt(fd, option, value);
		return value[0];
	}

	private static void getsockopt(int fd, int option, int[] value) throws IOException {
		IntByReference length = new IntByReference(value.length * Integer.BYTES);
		if (libc.getsockopt(fd, SOL_SOCKET, option, value, length) != 0) {
			throw new IOException("getsockopt(" + fd + ", " + option + ") failed: " + posix.strerror(posix.errno()));
		}
	}

}
