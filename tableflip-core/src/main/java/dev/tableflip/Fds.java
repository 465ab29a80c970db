package dev.tableflip;

import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.tableflip.Descriptor.Kind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry of descriptors this process inherited from its parent and of those it uses,
 * which a successful upgrade hands to the next process. Ask it for a listener instead of
 * binding one yourself: {@link #listen(String, String)} returns the parent's socket when there
 * is one under that name, and binds a new one otherwise.
 *
 * <p>Networks are named as in Go: {@code tcp}, {@code tcp4}, {@code tcp6} and {@code unix} for
 * stream sockets, {@code udp}, {@code udp4} and {@code udp6} for datagram sockets. Addresses
 * are {@code host:port} ({@code :8080}, {@code 127.0.0.1:8080}, {@code [::1]:8080}) or a socket
 * file's path. A socket bound to port 0 is registered under the port it actually got.
 */
public final class Fds {

	private static final Logger logger = LoggerFactory.getLogger(Fds.class);

	private final ListenConfig listenConfig;

	/** Descriptors handed over by the parent that nobody asked for yet. */
	private final Map<Descriptor, Integer> inherited;

	/** Channels and file descriptors in use, as the application has them. */
	private final Map<Descriptor, Object> used = new LinkedHashMap<>();

	/**
	 * The registry's own duplicate of each descriptor in use, taken when it was registered:
	 * what an upgrade hands over, whatever the application closed or opened since (a closed
	 * channel's number may already belong to an accepted client connection).
	 */
	private final Map<Descriptor, Integer> handedOver = new LinkedHashMap<>();

	/** UNIX socket files that systemd created (socket activation): systemd removes them, never we. */
	private final Set<String> systemdSocketFiles;

	Fds(Map<Descriptor, Integer> inherited, ListenConfig listenConfig) {
		this(inherited, listenConfig, Set.of());
	}

	Fds(Map<Descriptor, Integer> inherited, ListenConfig listenConfig, Set<String> systemdSocketFiles) {
		this.inherited = new LinkedHashMap<>(inherited);
		this.listenConfig = listenConfig;
		this.systemdSocketFiles = Set.copyOf(systemdSocketFiles);
	}

	/** The files of UNIX sockets that systemd created, which this registry never removes. */
	Set<String> systemdSocketFiles() {
		return this.systemdSocketFiles;
	}

	/** Creates a socket the way the caller wants, for {@link #listenWith}. */
	@FunctionalInterface
	public interface ListenerFactory {

		/** Creates and binds a listening socket for a network and address. */
		ServerSocketChannel open(String network, String address) throws IOException;

	}

	/**
	 * Returns the listener inherited under this network and address, or binds a new one.
	 * @param network {@code tcp}, {@code tcp4}, {@code tcp6} or {@code unix}
	 * @param address {@code host:port} or a socket file's path
	 */
	public ServerSocketChannel listen(String network, String address) throws IOException {
		return listenWith(network, address, this::bind);
	}

	/** Returns the TCP listener inherited for this address, or binds a new one. */
	public ServerSocketChannel listen(InetSocketAddress address) throws IOException {
		return listen("tcp", Addresses.format(address));
	}

	/** Returns the UNIX socket listener inherited for this path, or binds a new one. */
	public ServerSocketChannel listen(UnixDomainSocketAddress address) throws IOException {
		return listen("unix", address.getPath().toString());
	}

	/**
	 * Returns the listener inherited under this network and address, or registers the one that
	 * {@code factory} creates.
	 */
	public synchronized ServerSocketChannel listenWith(String network, String address, ListenerFactory factory)
			throws IOException {
		ServerSocketChannel inherited = listener(network, address);
		if (inherited != null) {
			return inherited;
		}
		ServerSocketChannel created = factory.open(network, address);
		addListener(network, Addresses.bound(address, created.getLocalAddress()), created);
		return created;
	}

	/** Returns the listener inherited under this network and address, or {@code null}. */
	public synchronized ServerSocketChannel listener(String network, String address) throws IOException {
		return (ServerSocketChannel) claim(new Descriptor(Kind.LISTENER, network, address));
	}

	/**
	 * Registers a listener the application created, so that it is handed over on upgrade. The
	 * registry keeps a duplicate of its descriptor: closing {@code listener} later does not
	 * change what the next process receives.
	 * @throws IllegalArgumentException if the channel is closed or not a listening socket
	 */
	public synchronized void addListener(String network, String address, ServerSocketChannel listener) {
		use(new Descriptor(Kind.LISTENER, network, address), listener);
	}

	/**
	 * Returns the datagram socket inherited under this network and address, or binds a new one.
	 * @param network {@code udp}, {@code udp4} or {@code udp6}
	 * @param address {@code host:port}
	 */
	public synchronized DatagramChannel listenPacket(String network, String address) throws IOException {
		DatagramChannel inherited = packetConn(network, address);
		if (inherited != null) {
			return inherited;
		}
		ProtocolFamily family = Addresses.family(network, Kind.PACKET);
		DatagramChannel created = (family != null) ? DatagramChannel.open(family) : DatagramChannel.open();
		try {
			this.listenConfig.apply(created);
			created.bind(Addresses.parse(address));
		}
		catch (IOException | RuntimeException ex) {
			created.close();
			throw ex;
		}
		addPacketConn(network, Addresses.bound(address, created.getLocalAddress()), created);
		return created;
	}

	/** Returns the datagram socket inherited under this network and address, or {@code null}. */
	public synchronized DatagramChannel packetConn(String network, String address) throws IOException {
		return (DatagramChannel) claim(new Descriptor(Kind.PACKET, network, address));
	}

	/** Registers a datagram socket the application created, so that it is handed over on upgrade. */
	public synchronized void addPacketConn(String network, String address, DatagramChannel channel) {
		use(new Descriptor(Kind.PACKET, network, address), channel);
	}

	/** Returns the connected socket inherited under this network and address, or {@code null}. */
	public synchronized SocketChannel conn(String network, String address) throws IOException {
		return (SocketChannel) claim(new Descriptor(Kind.CONN, network, address));
	}

	/** Registers a connected socket, so that it is handed over on upgrade. */
	public synchronized void addConn(String network, String address, SocketChannel channel) {
		use(new Descriptor(Kind.CONN, network, address), channel);
	}

	/** Returns the file inherited under this name, or {@code null}. */
	public synchronized FileDescriptor file(String name) throws IOException {
		return (FileDescriptor) claim(new Descriptor(Kind.FILE, "", name));
	}

	/** Registers an open file descriptor under a name, so that it is handed over on upgrade. */
	public synchronized void addFile(String name, FileDescriptor file) {
		if (!file.valid()) {
			throw new IllegalArgumentException("file '" + name + "' is not open");
		}
		use(new Descriptor(Kind.FILE, "", name), file);
	}

	/** All files, inherited or added, by name. Inherited ones are in use from then on. */
	public synchronized Map<String, FileDescriptor> files() throws IOException {
		for (Descriptor descriptor : List.copyOf(this.inherited.keySet())) {
			if (descriptor.kind() == Kind.FILE) {
				claim(descriptor);
			}
		}
		Map<String, FileDescriptor> files = new LinkedHashMap<>();
		this.used.forEach((descriptor, handle) -> {
			if (descriptor.kind() == Kind.FILE) {
				files.put(descriptor.address(), (FileDescriptor) handle);
			}
		});
		return files;
	}

	/** The descriptors inherited from the parent that nobody asked for yet. */
	public synchronized List<Descriptor> inherited() {
		return List.copyOf(this.inherited.keySet());
	}

	/** The descriptors in use, which an upgrade hands over. */
	public synchronized List<Descriptor> used() {
		return List.copyOf(this.used.keySet());
	}

	/**
	 * Closes this process's copy of every listener in use, so that only the new process accepts
	 * from them. The sockets stay open in the new process. Call it first when leaving after an
	 * upgrade.
	 */
	public synchronized void closeListeners() {
		this.used.forEach((descriptor, handle) -> {
			if (descriptor.kind() == Kind.LISTENER) {
				closeQuietly((Channel) handle, descriptor);
				Integer duplicate = this.handedOver.remove(descriptor);
				if (duplicate != null) {
					Native.close(duplicate);
				}
			}
		});
	}

	/**
	 * A new descriptor number for the socket behind a JDK channel, for transports that adopt
	 * raw descriptors (Netty's epoll). It is close-on-exec, and the socket is set non-blocking,
	 * which every holder of the socket then sees. The caller owns and closes it.
	 */
	public static int duplicate(NetworkChannel channel) throws IOException {
		return Native.duplicateNonBlocking(JdkChannels.fdOf(channel));
	}

	/**
	 * A second JDK channel on the same listening socket, with a descriptor of its own, for a
	 * server that must own and close its channel while the registry keeps its own (Netty on
	 * NIO). The socket is set non-blocking, which every holder of the socket then sees.
	 */
	public static ServerSocketChannel duplicateListener(ServerSocketChannel listener) throws IOException {
		int fd = duplicate(listener);
		try {
			return JdkChannels.serverSocketChannel(fd, family(fd, listener.toString()));
		}
		catch (IOException | RuntimeException ex) {
			Native.close(fd);
			throw ex;
		}
	}

	/** A descriptor in use and its number, ready to be sent. */
	record Handoff(Descriptor descriptor, int fd) {
	}

	/**
	 * What an upgrade hands over: the registry's own duplicates, valid until
	 * {@link #closeListeners()} or the end of this process.
	 */
	synchronized List<Handoff> handoffs() {
		List<Handoff> handoffs = new ArrayList<>();
		this.handedOver.forEach((descriptor, fd) -> handoffs.add(new Handoff(descriptor, fd)));
		return handoffs;
	}

	/**
	 * Closes inherited descriptors nobody asked for, removing the files of UNIX listeners (the
	 * process that asked for them last time is gone or going), but not systemd's.
	 */
	synchronized void closeInherited() {
		this.inherited.forEach((descriptor, fd) -> {
			logger.info("Closing inherited {}: this process did not ask for it", descriptor);
			Native.close(fd);
			if (descriptor.kind() == Kind.LISTENER && "unix".equals(descriptor.network())) {
				removeSocketFile(descriptor.address());
			}
		});
		this.inherited.clear();
	}

	/**
	 * Removes the files of UNIX listeners in use, but not systemd's: the service is going away
	 * for good, and this process was the last one to serve them.
	 */
	synchronized void removeUnixSockets() {
		this.used.keySet().forEach((descriptor) -> {
			if (descriptor.kind() == Kind.LISTENER && "unix".equals(descriptor.network())) {
				removeSocketFile(descriptor.address());
			}
		});
	}

	private Object claim(Descriptor descriptor) throws IOException {
		Integer fd = this.inherited.remove(descriptor);
		if (fd == null) {
			return null;
		}
		Object handle;
		try {
			handle = adopt(descriptor, fd);
		}
		catch (IOException | RuntimeException ex) {
			Native.close(fd);
			throw ex;
		}
		int duplicate;
		try {
			duplicate = Native.duplicate(fd);
		}
		catch (IOException ex) {
			closeQuietly(handle, descriptor);
			throw ex;
		}
		this.used.put(descriptor, handle);
		this.handedOver.put(descriptor, duplicate);
		return handle;
	}

	private void use(Descriptor descriptor, Object handle) {
		int duplicate = duplicateOf(descriptor, handle);
		Object previous = this.used.put(descriptor, handle);
		Integer previousDuplicate = this.handedOver.put(descriptor, duplicate);
		if (previousDuplicate != null) {
			Native.close(previousDuplicate);
		}
		if (previous != null && previous != handle) {
			logger.warn("{} was registered twice: only the last one is handed over", descriptor);
		}
	}

	/** The registry's own copy of what the application registers, checked to be what it says. */
	private static int duplicateOf(Descriptor descriptor, Object handle) {
		int fd = (handle instanceof FileDescriptor file) ? JdkChannels.fdOf(file) : JdkChannels.fdOf((Channel) handle);
		if (fd < 0 || (handle instanceof Channel channel && !channel.isOpen())) {
			throw new IllegalArgumentException("cannot register " + descriptor + ": it is closed");
		}
		try {
			if (descriptor.kind() == Kind.LISTENER && !Native.isListening(fd)) {
				throw new IllegalArgumentException("cannot register " + descriptor + ": descriptor " + fd
						+ " is not a listening socket (bind it first)");
			}
			return Native.duplicate(fd);
		}
		catch (IOException ex) {
			throw new IllegalArgumentException("cannot register " + descriptor + ": " + ex.getMessage(), ex);
		}
	}

	private static Object adopt(Descriptor descriptor, int fd) throws IOException {
		if (descriptor.kind() == Kind.FILE) {
			return JdkChannels.newFileDescriptor(fd);
		}
		int type = Native.socketType(fd);
		ProtocolFamily family = family(fd, "inherited " + descriptor);
		return switch (descriptor.kind()) {
			case LISTENER -> {
				if (type != Native.SOCK_STREAM || !Native.isListening(fd)) {
					throw new IOException("inherited " + descriptor + " is not a listening stream socket");
				}
				yield JdkChannels.serverSocketChannel(fd, family);
			}
			case PACKET -> {
				if (type != Native.SOCK_DGRAM || family == StandardProtocolFamily.UNIX) {
					throw new IOException("inherited " + descriptor + " is not a UDP socket");
				}
				yield JdkChannels.datagramChannel(fd);
			}
			case CONN -> {
				if (type != Native.SOCK_STREAM) {
					throw new IOException("inherited " + descriptor + " is not a stream socket");
				}
				yield JdkChannels.socketChannel(fd, family, null);
			}
			case FILE -> throw new AssertionError();
		};
	}

	/** The protocol family of a socket, as the JDK channels want it. */
	private static ProtocolFamily family(int fd, String what) throws IOException {
		return switch (Native.socketDomain(fd)) {
			case Native.AF_INET -> StandardProtocolFamily.INET;
			case Native.AF_INET6 -> StandardProtocolFamily.INET6;
			case Native.AF_UNIX -> StandardProtocolFamily.UNIX;
			default -> throw new IOException(what + " is not an IP or UNIX socket");
		};
	}

	private ServerSocketChannel bind(String network, String address) throws IOException {
		ProtocolFamily family = Addresses.family(network, Kind.LISTENER);
		SocketAddress local = (family == StandardProtocolFamily.UNIX) ? UnixDomainSocketAddress.of(address)
				: Addresses.parse(address);
		ServerSocketChannel channel = (family != null) ? ServerSocketChannel.open(family) : ServerSocketChannel.open();
		try {
			this.listenConfig.apply(channel);
			// 0 means the system's maximum: listen() caps the backlog at net.core.somaxconn, where the
			// JDK would otherwise use 50.
			int backlog = (this.listenConfig.backlog() > 0) ? this.listenConfig.backlog() : Integer.MAX_VALUE;
			channel.bind(local, backlog);
			return channel;
		}
		catch (IOException ex) {
			channel.close();
			throw new IOException("cannot listen on " + network + " " + address + ": " + ex.getMessage(), ex);
		}
	}

	private void removeSocketFile(String path) {
		if (path.startsWith("@") || path.startsWith("\0") || this.systemdSocketFiles.contains(path)) {
			return; // abstract sockets have no file; systemd's socket unit owns its files
		}
		try {
			Files.deleteIfExists(Path.of(path));
		}
		catch (IOException ex) {
			logger.warn("Could not remove socket file {}: {}", path, ex.getMessage());
		}
	}

	private static void closeQuietly(Object handle, Descriptor descriptor) {
		if (!(handle instanceof Closeable closeable)) {
			return; // a FileDescriptor: its owner closes it
		}
		try {
			closeable.close();
		}
		catch (IOException ex) {
			logger.debug("Closing {} failed", descriptor, ex);
		}
	}

}
