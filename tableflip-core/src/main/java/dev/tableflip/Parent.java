package dev.tableflip;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

import dev.tableflip.Handshake.End;
import dev.tableflip.Handshake.Frame;
import dev.tableflip.Handshake.ProtocolException;
import dev.tableflip.Handshake.Type;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The old process, as the new process sees it: connects to the rendezvous socket named in
 * the environment, proves who it is, receives the handed-over descriptors, says when it is
 * ready, and learns that the old process exited when the connection ends.
 */
final class Parent {

	private static final Logger logger = LoggerFactory.getLogger(Parent.class);

	private final SocketChannel connection;

	private final Map<Descriptor, Integer> descriptors;

	private final Lineage lineage;

	private final long pid;

	/** What the parent's handoff said besides the descriptors (lineage, systemd's sockets...). */
	private final Map<String, String> notes;

	private final CompletableFuture<Void> exited = new CompletableFuture<>();

	private Parent(SocketChannel connection, Map<Descriptor, Integer> descriptors, Lineage lineage, long pid,
			Map<String, String> notes) {
		this.connection = connection;
		this.notes = notes;
		this.descriptors = descriptors;
		this.lineage = lineage;
		this.pid = pid;
	}

	/**
	 * Takes over the descriptors from the process that started this one.
	 * @return the parent, or {@code null} if this process was not started by an upgrade
	 */
	static Parent connect(Map<String, String> environment) throws IOException {
		String socket = environment.get(Handshake.ENV_SOCKET);
		if (socket == null) {
			return null;
		}
		String token = environment.get(Handshake.ENV_TOKEN);
		if (token == null) {
			throw new IOException(Handshake.ENV_SOCKET + " is set but " + Handshake.ENV_TOKEN
					+ " is not: this process was not started by a tableflip upgrade");
		}
		if (!Files.exists(Path.of(socket))) {
			// The handoff it names is over: this process inherited the variables from a process
			// that was itself started by an upgrade, and is not the new process of one.
			logger.warn("Ignoring {}={}: no such socket, so this process is not the new process of an upgrade",
					Handshake.ENV_SOCKET, socket);
			return null;
		}
		SocketChannel connection = SocketChannel.open(StandardProtocolFamily.UNIX);
		try {
			connection.connect(UnixDomainSocketAddress.of(socket));
			Parent parent = handshake(connection, token);
			parent.watchExit();
			return parent;
		}
		catch (IOException | RuntimeException ex) {
			connection.close();
			OptionalLong gone = goneParent(environment);
			if (gone.isPresent()) {
				// Its listeners closed with it: this process can only serve by binding its own.
				logger.warn("The old process {} died before it handed its sockets over ({}): this process starts on "
						+ "its own, as generation 1, and binds its listeners itself", gone.getAsLong(), ex.getMessage());
				return null;
			}
			throw new IOException("taking over the sockets from the old process failed: " + ex.getMessage(), ex);
		}
	}

	/**
	 * The pid of the process that started this one, if it is certainly gone: not running, or
	 * no longer this process's parent (this process was re-parented when it died, and the pid
	 * may since belong to another process). Empty when it runs, or when it is not known.
	 */
	private static OptionalLong goneParent(Map<String, String> environment) {
		long pid;
		try {
			pid = Long.parseLong(environment.getOrDefault(Handshake.ENV_PARENT_PID, ""));
		}
		catch (NumberFormatException ex) {
			return OptionalLong.empty();
		}
		boolean stillParent = ProcessHandle.current().parent().map((parent) -> parent.pid() == pid).orElse(false);
		boolean running = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
		return (stillParent && running) ? OptionalLong.empty() : OptionalLong.of(pid);
	}

	private static Parent handshake(SocketChannel connection, String token) throws IOException {
		int fd = JdkChannels.fdOf(connection);
		Handshake.Input input = (dst, fds) -> Native.receive(fd, dst, fds);
		write(connection, Handshake.hello(token, ProcessHandle.current().pid()));
		Map<Descriptor, Integer> descriptors = new LinkedHashMap<>();
		try {
			while (true) {
				Frame frame = Handshake.read(input);
				if (frame == null) {
					throw new ProtocolException("the old process closed the connection during the handoff");
				}
				if (frame.type() == Type.REFUSED) {
					throw new ProtocolException("the old process refused the handoff: " + Handshake.parseRefused(frame));
				}
				if (frame.type() == Type.END) {
					End end = Handshake.parseEnd(frame);
					if (end.count() != descriptors.size()) {
						throw new ProtocolException("the old process announced " + end.count() + " descriptors but sent "
								+ descriptors.size());
					}
					logger.info("Took over {} descriptor(s) from process {} (generation {})", descriptors.size(),
							end.parentPid(), end.generation());
					return new Parent(connection, descriptors, Lineage.inherited(end.generation() + 1, end.notes()),
							end.parentPid(), end.notes());
				}
				Descriptor descriptor = Handshake.parseDescriptor(frame);
				Integer previous = descriptors.put(descriptor, frame.fds().get(0));
				if (previous != null) {
					Native.close(previous);
				}
			}
		}
		catch (IOException | RuntimeException ex) {
			descriptors.values().forEach(Native::close);
			throw ex;
		}
	}

	/** The descriptors handed over, by name; the caller owns them. */
	Map<Descriptor, Integer> descriptors() {
		return this.descriptors;
	}

	/** This process's lineage as the parent handed it over: one generation more than the parent's. */
	Lineage lineage() {
		return this.lineage;
	}

	long pid() {
		return this.pid;
	}

	/** The notes of the handoff, by key. */
	Map<String, String> notes() {
		return this.notes;
	}

	/** Completes when the parent process has exited. */
	CompletableFuture<Void> exited() {
		return this.exited;
	}

	/** The parent was found gone (a write to it failed): as if its connection had ended. */
	void gone() {
		this.exited.complete(null);
	}

	/** Tells the parent that this process is ready; its {@code upgrade()} then returns. */
	void sendReady() throws IOException {
		write(this.connection, Handshake.ready());
	}

	/** Tells the parent that this process will not serve, and why; its {@code upgrade()} then fails. */
	void sendFailed(String reason) throws IOException {
		write(this.connection, Handshake.failed(reason));
	}

	private void watchExit() {
		Thread watcher = new Thread(() -> {
			ByteBuffer buffer = ByteBuffer.allocate(64);
			try {
				while (this.connection.read(buffer.clear()) >= 0) {
					// The parent sends nothing after the handoff; end of stream is all we wait for.
				}
			}
			catch (IOException ex) {
				logger.debug("Connection to the old process failed", ex);
			}
			logger.info("The old process {} has exited", this.pid);
			this.exited.complete(null);
		}, "tableflip-parent-" + this.pid);
		watcher.setDaemon(true);
		watcher.start();
	}

	private static void write(SocketChannel connection, ByteBuffer frame) throws IOException {
		while (frame.hasRemaining()) {
			connection.write(frame);
		}
	}

}
