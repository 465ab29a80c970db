package dev.tableflip;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import dev.tableflip.Fds.Handoff;
import dev.tableflip.Handshake.Frame;
import dev.tableflip.Handshake.Hello;
import dev.tableflip.Handshake.ProtocolException;
import dev.tableflip.Handshake.Type;
import dev.tableflip.Native.PeerCredentials;
import dev.tableflip.UpgradeException.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The new process, as the old process sees it: started with {@link ProcessBuilder} (which
 * closes every descriptor above stderr in it), then handed the descriptors over a private
 * UNIX socket that only it can use: a directory only this user can enter, a one-time token
 * in its environment, and a check that the peer is that very process or one it started.
 */
final class Child {

	private static final Logger logger = LoggerFactory.getLogger(Child.class);

	/** The longest path a Unix socket's address holds on Linux ({@code sun_path}, 108 bytes with its NUL). */
	private static final int MAX_SOCKET_PATH_BYTES = 107;

	/** The start of the name of each upgrade's directory in the run-time directory; a number follows. */
	private static final String DIRECTORY_PREFIX = "tableflip-";

	/** The handoff socket's name in that directory. */
	private static final String SOCKET_NAME = "handoff.sock";

	private static final SecureRandom random = new SecureRandom();

	private final Process process;

	private final Path directory;

	private final ServerSocketChannel rendezvous;

	private final String token;

	private final List<Handoff> handoffs;

	private final int generation;

	private final Map<String, String> notes;

	/** Completes when the child holds the descriptors handed over (and never if it does not). */
	private final CompletableFuture<Void> handedOff = new CompletableFuture<>();

	/** Completes when the child is ready, or fails with the reason it never will be. */
	private final CompletableFuture<Void> ready = new CompletableFuture<>();

	/** Completes, after it was ready, when the child exits or says it will not serve after all. */
	private final CompletableFuture<UpgradeException> lost = new CompletableFuture<>();

	private volatile long readyAt;

	private volatile SocketChannel connection;

	private Child(Process process, Path directory, ServerSocketChannel rendezvous, String token,
			List<Handoff> handoffs, int generation, Map<String, String> notes) {
		this.process = process;
		this.directory = directory;
		this.rendezvous = rendezvous;
		this.token = token;
		this.handoffs = handoffs;
		this.generation = generation;
		this.notes = notes;
	}

	/**
	 * Starts the new process and the handoff; {@link #ready()} tells how it ends.
	 * @param generation the generation of the calling process
	 * @param notes what the new process should know of its line ({@link Lineage#notes})
	 */
	static Child start(List<String> command, Map<String, String> environment, Path workingDirectory,
			List<Handoff> handoffs, int generation, Map<String, String> notes) throws UpgradeException {
		Path runtime = runtimeDirectory();
		String origin = origin(runtime);
		Path directory;
		try {
			directory = Files.createTempDirectory(runtime, DIRECTORY_PREFIX,
					PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
		}
		catch (IOException | RuntimeException ex) {
			throw new UpgradeException(Reason.SPAWN_FAILED, "cannot make the handoff socket's directory in " + runtime
					+ " (" + origin + "): " + reasonOf(ex), -1, Integer.MIN_VALUE, ex);
		}
		ServerSocketChannel rendezvous = null;
		Path socket = directory.resolve(SOCKET_NAME);
		try {
			rendezvous = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
			rendezvous.bind(UnixDomainSocketAddress.of(socket), 1);
		}
		catch (IOException | RuntimeException ex) {
			closeRendezvous(rendezvous, directory);
			throw new UpgradeException(Reason.SPAWN_FAILED, "cannot listen on the handoff socket " + socket + " (in "
					+ origin + "): " + reasonOf(ex), -1, Integer.MIN_VALUE, ex);
		}
		try {
			byte[] secret = new byte[32];
			random.nextBytes(secret);
			String token = HexFormat.of().formatHex(secret);

			ProcessBuilder builder = new ProcessBuilder(command).directory(workingDirectory.toFile()).inheritIO();
			// systemd's sockets reach the new process by the handoff, not as descriptors 3, 4...
			builder.environment().keySet().removeAll(SocketActivation.VARIABLES);
			builder.environment().putAll(environment);
			builder.environment().put(Handshake.ENV_SOCKET, socket.toString());
			builder.environment().put(Handshake.ENV_TOKEN, token);
			builder.environment().put(Handshake.ENV_PARENT_PID, Long.toString(ProcessHandle.current().pid()));
			Process process = builder.start();
			Child child = new Child(process, directory, rendezvous, token, handoffs, generation, notes);
			child.watch();
			return child;
		}
		catch (IOException | RuntimeException ex) {
			closeRendezvous(rendezvous, directory);
			throw new UpgradeException(Reason.SPAWN_FAILED,
					"cannot start the new process: " + ex.getMessage() + " (command: " + command + ")", -1,
					Integer.MIN_VALUE, ex);
		}
	}

	/** What went wrong, without the path a file system error starts with when the message names it already. */
	private static String reasonOf(Exception ex) {
		if (ex instanceof FileSystemException failed && failed.getReason() != null) {
			return failed.getReason();
		}
		return String.valueOf(ex.getMessage());
	}

	long pid() {
		return this.process.pid();
	}

	/**
	 * Completes when the new process said it is ready; fails with an {@link UpgradeException}
	 * when it exited or broke the protocol first.
	 */
	CompletableFuture<Void> ready() {
		return this.ready;
	}

	/** Completes when the new process holds the descriptors (before it is ready); never if it fails first. */
	CompletableFuture<Void> handedOff() {
		return this.handedOff;
	}

	/**
	 * Completes when the new process, after it was ready, exited or reported that it will not
	 * serve; the exception says which, and how long after it was ready. Learnt from the
	 * process's exit and the handoff connection's end, not by polling.
	 */
	CompletableFuture<UpgradeException> lost() {
		return this.lost;
	}

	/** Fails the upgrade for a reason found outside (timeout, stop); the caller then kills. */
	void abort(UpgradeException reason) {
		this.ready.completeExceptionally(reason);
	}

	/** Kills the new process and everything it started, and waits for it to be gone. */
	void kill() {
		List<ProcessHandle> descendants = this.process.descendants().toList();
		this.process.destroyForcibly();
		descendants.forEach(ProcessHandle::destroyForcibly);
		try {
			if (!this.process.waitFor(10, TimeUnit.SECONDS)) {
				logger.warn("New process {} did not die within 10 s of SIGKILL", pid());
			}
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
		closeRendezvous(this.rendezvous, this.directory);
		SocketChannel connection = this.connection;
		if (connection != null) {
			try {
				connection.close();
			}
			catch (IOException ex) {
				logger.debug("Closing the handoff connection failed", ex);
			}
		}
	}

	@Override
	public String toString() {
		return "new process " + pid();
	}

	private void watch() {
		this.process.onExit().thenRun(() -> {
			this.ready.completeExceptionally(exited());
			if (this.ready.isDone() && !this.ready.isCompletedExceptionally()) {
				int code = this.process.exitValue();
				this.lost.complete(new UpgradeException(Reason.PROBATION_FAILED, this + " exited with code " + code
						+ describe(code) + " " + sinceReady() + " after it was ready", pid(), code, null));
			}
		});
		Thread handshake = new Thread(this::handshake, "tableflip-handoff-" + pid());
		handshake.setDaemon(true);
		handshake.start();
	}

	private void handshake() {
		try {
			SocketChannel connection = acceptFromChild();
			this.connection = connection;
			Handshake.Input input = (dst, fds) -> connection.read(dst);
			Frame hello = Handshake.read(input);
			if (hello == null) {
				throw new ProtocolException("it closed the handoff connection before saying hello");
			}
			Hello parsed = Handshake.parseHello(hello);
			if (!MessageDigest.isEqual(parsed.token().getBytes(StandardCharsets.UTF_8),
					this.token.getBytes(StandardCharsets.UTF_8))) {
				write(connection, Handshake.refused("wrong handoff token"));
				throw new ProtocolException("it presented a wrong handoff token");
			}
			closeRendezvous(this.rendezvous, this.directory);
			int fd = JdkChannels.fdOf(connection);
			for (Handoff handoff : this.handoffs) {
				Native.send(fd, Handshake.descriptor(handoff.descriptor()), handoff.fd());
			}
			write(connection, Handshake.end(this.generation, this.handoffs.size(), ProcessHandle.current().pid(),
					this.notes));
			logger.info("Handed {} descriptor(s) to new process {}; waiting until it is ready", this.handoffs.size(),
					pid());
			this.handedOff.complete(null);
			Frame ready = Handshake.read(input);
			if (ready == null) {
				throw new ProtocolException("it closed the handoff connection before it was ready");
			}
			if (ready.type() == Type.FAILED) {
				String reason = Handshake.parseFailed(ready);
				this.ready.completeExceptionally(new UpgradeException(Reason.CHILD_FAILED,
						this + " will not serve: " + reason, pid(), Integer.MIN_VALUE, null));
				return;
			}
			ready.expect(Type.READY, 0);
			this.readyAt = System.nanoTime();
			this.ready.complete(null);
			// Nothing more is expected but a FAILED frame during the probation, or the end of
			// the connection when the new process exits (its exit is reported by watch()).
			Frame after = Handshake.read(input);
			if (after != null && after.type() == Type.FAILED) {
				this.lost.complete(new UpgradeException(Reason.PROBATION_FAILED, this + " reported " + sinceReady()
						+ " after it was ready that it will not serve: " + Handshake.parseFailed(after), pid(),
						Integer.MIN_VALUE, null));
			}
		}
		catch (IOException | RuntimeException ex) {
			if (!this.ready.isDone()) {
				this.ready.completeExceptionally(exitedOr(ex));
			}
		}
	}

	/** Accepts the child's connection, turning away anyone else who found the socket. */
	private SocketChannel acceptFromChild() throws IOException {
		while (true) {
			SocketChannel connection = this.rendezvous.accept();
			PeerCredentials peer = Native.peerCredentials(JdkChannels.fdOf(connection));
			if (peer.uid() == Native.uid() && isChildOrDescendant(peer.pid())) {
				return connection;
			}
			logger.warn("Refused a handoff connection from process {} (uid {}): it is not {}", peer.pid(), peer.uid(),
					this);
			connection.close();
		}
	}

	private boolean isChildOrDescendant(long pid) {
		return pid == pid() || this.process.descendants().anyMatch((handle) -> handle.pid() == pid);
	}

	/** If the child died, that is the news; otherwise it broke the protocol. */
	private UpgradeException exitedOr(Exception failure) {
		try {
			if (this.process.waitFor(1, TimeUnit.SECONDS)) {
				return exited();
			}
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
		return new UpgradeException(Reason.HANDSHAKE_FAILED,
				"the handoff to " + this + " failed: " + failure.getMessage(), pid(), Integer.MIN_VALUE, failure);
	}

	private String sinceReady() {
		return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - this.readyAt) + " ms";
	}

	/** 128 + n is how a shell reports death by signal n; Process gives the same for a JVM child. */
	private static String describe(int code) {
		return switch (code) {
			case 137 -> " (SIGKILL)";
			case 143 -> " (SIGTERM)";
			case 134 -> " (SIGABRT)";
			case 139 -> " (SIGSEGV)";
			default -> "";
		};
	}

	private UpgradeException exited() {
		int code = this.process.exitValue();
		return new UpgradeException(Reason.CHILD_EXITED,
				this + " exited with code " + code + " before it was ready", pid(), code, null);
	}

	private static void write(SocketChannel connection, ByteBuffer frame) throws IOException {
		while (frame.hasRemaining()) {
			connection.write(frame);
		}
	}

	/**
	 * Why an upgrade of this process cannot make its handoff socket, as far as can be told
	 * before one is tried, or {@code null}: checked when the process is ready, so that an
	 * operator learns it at the deployment rather than at the first upgrade.
	 */
	static String handoffSocketProblem() {
		Path runtime = runtimeDirectory();
		if (!Files.isDirectory(runtime) || !Files.isWritable(runtime)) {
			return "cannot make the handoff socket's directory in " + runtime + " (" + origin(runtime)
					+ "): not a writable directory";
		}
		// the temporary directory's number has up to 20 digits
		Path deepest = runtime.toAbsolutePath().resolve(DIRECTORY_PREFIX + "0".repeat(20)).resolve(SOCKET_NAME);
		int longest = deepest.toString().getBytes(StandardCharsets.UTF_8).length;
		if (longest > MAX_SOCKET_PATH_BYTES) {
			return "the handoff socket's path in " + runtime + " (" + origin(runtime) + ") can be " + longest
					+ " bytes long, and a Unix socket's path at most " + MAX_SOCKET_PATH_BYTES
					+ ": set a shorter java.io.tmpdir (-Djava.io.tmpdir=) or XDG_RUNTIME_DIR";
		}
		return null;
	}

	/** Where the run-time directory comes from, for messages. */
	private static String origin(Path runtime) {
		return runtime.toString().equals(System.getenv("XDG_RUNTIME_DIR")) ? "$XDG_RUNTIME_DIR" : "java.io.tmpdir";
	}

	private static Path runtimeDirectory() {
		String runtime = System.getenv("XDG_RUNTIME_DIR");
		if (runtime != null && Files.isDirectory(Path.of(runtime)) && Files.isWritable(Path.of(runtime))) {
			return Path.of(runtime);
		}
		return Path.of(System.getProperty("java.io.tmpdir"));
	}

	private static void closeRendezvous(ServerSocketChannel rendezvous, Path directory) {
		try {
			if (rendezvous != null) {
				rendezvous.close();
			}
			if (directory != null) {
				Files.deleteIfExists(directory.resolve(SOCKET_NAME));
				Files.deleteIfExists(directory);
			}
		}
		catch (IOException ex) {
			logger.warn("Could not remove the handoff socket in {}: {}", directory, ex.getMessage());
		}
	}

}
