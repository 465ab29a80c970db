package dev.tableflip;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import dev.tableflip.Descriptor.Kind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * systemd socket activation ({@code sd_listen_fds}): the sockets a {@code .socket} unit passes
 * to the process it starts, as descriptors 3, 4... named by {@code LISTEN_FDS},
 * {@code LISTEN_FDNAMES} and {@code LISTEN_PID}. They become inherited descriptors under the
 * address they are bound to ({@code listener tcp :8080}), so that the application's
 * {@code fds().listen("tcp", ":8080")} takes systemd's socket instead of binding its own, and
 * every upgrade hands it on. Because systemd keeps its own copy, connections wait in the
 * socket's queue even while no process of the service runs.
 */
final class SocketActivation {

	private static final Logger logger = LoggerFactory.getLogger(SocketActivation.class);

	/** The first descriptor systemd passes ({@code SD_LISTEN_FDS_START}). */
	static final int FIRST_FD = 3;

	/** The variables that describe the passed sockets; new processes must not see them. */
	static final List<String> VARIABLES = List.of("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES");

	private SocketActivation() {
	}

	/**
	 * The sockets passed to this process by systemd, by name; empty if none were, or if the
	 * variables were meant for another process (inherited from an ancestor).
	 * @throws IOException if the variables are malformed or a passed descriptor is unusable
	 */
	static Map<Descriptor, Integer> passed(Map<String, String> environment, long pid) throws IOException {
		String listenPid = environment.get("LISTEN_PID");
		String listenFds = environment.get("LISTEN_FDS");
		if (listenPid == null || listenFds == null) {
			return Map.of();
		}
		if (!listenPid.trim().equals(Long.toString(pid))) {
			logger.debug("LISTEN_PID={} is not this process ({}): its sockets are not for us", listenPid, pid);
			return Map.of();
		}
		int count;
		try {
			count = Integer.parseInt(listenFds.trim());
		}
		catch (NumberFormatException ex) {
			count = -1;
		}
		if (count < 0 || count > 1024) {
			throw new IOException("LISTEN_FDS='" + listenFds + "' is not a number of sockets passed by systemd "
					+ "socket activation (0 to 1024): check the service's .socket unit");
		}
		String[] names = environment.getOrDefault("LISTEN_FDNAMES", "").split(":", -1);
		Map<Descriptor, Integer> passed = new LinkedHashMap<>();
		for (int i = 0; i < count; i++) {
			int fd = FIRST_FD + i;
			String name = (i < names.length && !names[i].isEmpty()) ? names[i] : "systemd-fd-" + fd;
			Descriptor descriptor = describe(fd, name);
			Native.closeOnExec(fd);
			if (passed.putIfAbsent(descriptor, fd) != null) {
				logger.warn("systemd passed {} twice (descriptor {}): using the first one", descriptor, fd);
				Native.close(fd);
			}
		}
		if (!passed.isEmpty()) {
			logger.info("Took {} socket(s) from systemd socket activation: {} (names {})", passed.size(),
					passed.keySet(), Arrays.asList(names));
		}
		return passed;
	}

	/**
	 * The files of the passed UNIX listeners that systemd created for a socket unit, which only
	 * systemd may remove: all but those this library put in systemd's file-descriptor store
	 * itself (named {@link Systemd#STORE_NAME}), whose files are its own.
	 */
	static Set<String> socketFilesOfSystemd(Map<Descriptor, Integer> passed, Map<String, String> environment) {
		String[] names = environment.getOrDefault("LISTEN_FDNAMES", "").split(":", -1);
		Set<String> files = new HashSet<>();
		passed.forEach((descriptor, fd) -> {
			int index = fd - FIRST_FD;
			String name = (index >= 0 && index < names.length) ? names[index] : "";
			if (descriptor.kind() == Kind.LISTENER && "unix".equals(descriptor.network())
					&& !name.equals(Systemd.STORE_NAME)) {
				files.add(descriptor.address());
			}
		});
		return files;
	}

	/** The name a passed descriptor is inherited under: its kind, network and bound address. */
	static Descriptor describe(int fd, String name) throws IOException {
		int domain;
		try {
			domain = Native.socketDomain(fd);
		}
		catch (IOException ex) {
			return new Descriptor(Kind.FILE, "", name); // a FIFO or another file, not a socket
		}
		int type = Native.socketType(fd);
		if (domain != Native.AF_INET && domain != Native.AF_INET6 && domain != Native.AF_UNIX) {
			return new Descriptor(Kind.FILE, "", name);
		}
		String address = address(Native.localAddress(fd));
		if (type == Native.SOCK_STREAM && Native.isListening(fd)) {
			return new Descriptor(Kind.LISTENER, (domain == Native.AF_UNIX) ? "unix" : "tcp", address);
		}
		if (type == Native.SOCK_DGRAM && domain != Native.AF_UNIX) {
			return new Descriptor(Kind.PACKET, "udp", address);
		}
		return new Descriptor(Kind.FILE, "", name); // a connection (Accept=yes) or a UNIX datagram socket
	}

	/**
	 * {@code host:port} of a {@code sockaddr_in} or {@code sockaddr_in6} with an empty host for
	 * the wildcard, as the application asks for it ({@code :8080}), or the path of a
	 * {@code sockaddr_un} ({@code @name} for an abstract one).
	 */
	static String address(ByteBuffer sockaddr) throws IOException {
		int family = sockaddr.order(ByteOrder.nativeOrder()).getShort(0);
		int port = Short.toUnsignedInt(sockaddr.order(ByteOrder.BIG_ENDIAN).getShort(2));
		return switch (family) {
			case Native.AF_INET -> Addresses.format(new InetSocketAddress(InetAddress.getByAddress(bytes(sockaddr, 4, 4)), port));
			case Native.AF_INET6 -> Addresses.format(new InetSocketAddress(InetAddress.getByAddress(bytes(sockaddr, 8, 16)), port));
			case Native.AF_UNIX -> unixPath(bytes(sockaddr, 2, sockaddr.limit() - 2));
			default -> throw new IOException("unexpected address family " + family);
		};
	}

	private static String unixPath(byte[] path) {
		if (path.length > 0 && path[0] == 0) {
			return "@" + new String(path, 1, path.length - 1, StandardCharsets.UTF_8);
		}
		int end = 0;
		while (end < path.length && path[end] != 0) {
			end++;
		}
		return new String(path, 0, end, StandardCharsets.UTF_8);
	}

	private static byte[] bytes(ByteBuffer buffer, int offset, int length) {
		byte[] bytes = new byte[length];
		buffer.get(offset, bytes);
		return bytes;
	}

}
