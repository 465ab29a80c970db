package dev.tableflip;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import dev.tableflip.UpgradeException.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upgrader of a real process, and the one upgrade state machine. All state changes
 * happen in the synchronized methods below, following this table:
 *
 * <pre>
 * state      | ready()   | upgrade()                          | child ready | child failed | stop()
 * -----------+-----------+------------------------------------+-------------+--------------+------------------
 * STARTING   | READY     | refuse NOT_READY                   |             |              | STOPPED
 * READY      | -         | UPGRADING, or PARENT_NOT_EXITED,   |             |              | STOPPED
 *            |           | or a pre-flight refusal            |             |              |
 * UPGRADING  | -         | refuse IN_PROGRESS                 | UPGRADED    | READY        | kill child, STOPPED
 * UPGRADED   | -         | refuse ALREADY_UPGRADED            |             |              | -
 * STOPPED    | -         | refuse STOPPED                     | kill child  |              | -
 * </pre>
 *
 * {@code exit()} completes on entering UPGRADED or STOPPED.
 */
final class ProcessUpgrader implements Upgrader {

	private static final Logger logger = LoggerFactory.getLogger(ProcessUpgrader.class);

	/** The working directory this JVM started in: new processes start there too. */
	private static final Path INITIAL_WORKING_DIRECTORY = Path.of(System.getProperty("user.dir"));

	private static ProcessUpgrader live;

	/** The parent's descriptors are taken once per JVM, by the first upgrader. */
	private static boolean handoffTaken;

	enum State {

		STARTING, READY, UPGRADING, UPGRADED, STOPPED

	}

	private final UpgraderOptions options;

	private final Parent parent;

	private final Fds fds;

	private final CompletableFuture<Void> exit = new CompletableFuture<>();

	private State state = State.STARTING;

	private volatile Lineage lineage;

	/** The new process while UPGRADING; after UPGRADED, kept so its connection stays open. */
	private Child child;

	private final Systemd systemd;

	/**
	 * Whether this is the process systemd takes for the unit's main process: one started by
	 * hand, or one started by an upgrade once its parent has exited (the parent hands the main
	 * pid over when this process is ready, and speaks for the unit until then).
	 */
	private volatile boolean mainProcess;

	private ProcessUpgrader(UpgraderOptions options, Parent parent, Map<Descriptor, Integer> activated,
			Systemd systemd) {
		this.options = options;
		this.parent = parent;
		this.systemd = systemd;
		this.fds = new Fds((parent != null) ? parent.descriptors() : activated, options.listenConfig());
		this.lineage = (parent != null) ? parent.lineage() : Lineage.first();
		this.mainProcess = parent == null;
		if (parent != null) {
			parent.exited().thenRun(this::becameMainProcess);
		}
		else {
			this.systemd.extend(options.upgradeTimeout()); // the first start may take as long as a new process may
		}
	}

	static synchronized ProcessUpgrader create(UpgraderOptions options) throws IOException {
		if (System.getProperty("os.name", "").startsWith("Windows")) {
			throw new UnsupportedOperationException(
					"tableflip needs UNIX sockets and descriptor passing, which Windows lacks: use Upgrader.stub()");
		}
		JdkChannels.checkAccessible();
		Native.checkAvailable();
		if (live != null) {
			throw new IllegalStateException(
					"this process already has a live Upgrader: stop() it before creating another");
		}
		Parent parent = null;
		Map<Descriptor, Integer> activated = Map.of();
		if (!handoffTaken) {
			handoffTaken = true;
			parent = Parent.connect(System.getenv());
			if (parent == null) {
				activated = SocketActivation.passed(System.getenv(), ProcessHandle.current().pid());
			}
		}
		live = new ProcessUpgrader(options, parent, activated, Systemd.from(System.getenv()));
		return live;
	}

	@Override
	public Fds fds() {
		return this.fds;
	}

	@Override
	public synchronized void ready() throws IOException {
		if (this.state != State.STARTING) {
			return;
		}
		this.fds.closeInherited();
		if (this.options.pidFile() != null) {
			PidFile.write(INITIAL_WORKING_DIRECTORY.resolve(this.options.pidFile()), ProcessHandle.current().pid());
		}
		if (this.parent != null) {
			this.parent.sendReady();
		}
		this.state = State.READY;
		logger.info("Process {} is ready (generation {})", ProcessHandle.current().pid(), generation());
		if (this.parent == null) {
			this.systemd.ready(serving());
		}
		else if (this.mainProcess) {
			this.systemd.status(serving());
		}
	}

	@Override
	public synchronized void fail(String reason) throws IOException {
		if (this.state != State.STARTING || this.parent == null) {
			return;
		}
		this.parent.sendFailed(reason);
		logger.warn("Process {} told the old process {} that it will not serve: {}", ProcessHandle.current().pid(),
				this.parent.pid(), reason);
	}

	@Override
	public long upgrade(String cause) throws UpgradeException {
		try {
			return upgradeAsync(cause).join();
		}
		catch (CompletionException ex) {
			if (ex.getCause() instanceof UpgradeException upgrade) {
				throw new UpgradeException(upgrade.reason(), upgrade.getMessage(), upgrade.childPid().orElse(-1),
						upgrade.exitCode().orElse(Integer.MIN_VALUE), upgrade);
			}
			throw ex;
		}
	}

	@Override
	public synchronized CompletableFuture<Long> upgradeAsync(String cause) {
		Objects.requireNonNull(cause, "cause");
		UpgradeException refusal = refusal();
		if (refusal == null) {
			refusal = Preflight.linux().check(command(), INITIAL_WORKING_DIRECTORY);
		}
		if (refusal != null) {
			this.lineage = this.lineage.after(refusal, Instant.now());
			if (this.mainProcess && this.state == State.READY) {
				// Type=notify-reload waits for RELOADING=1 and READY=1 after its SIGHUP, even for nothing.
				this.systemd.reloading("Upgrade (" + cause + ") refused");
				this.systemd.reloaded("Upgrade (" + cause + ") refused (" + refusal.reason() + "): "
						+ refusal.getMessage() + "; " + serving());
			}
			return CompletableFuture.failedFuture(refusal);
		}
		this.state = State.UPGRADING;
		if (this.mainProcess) {
			this.systemd.reloading("Upgrading (" + cause + "): starting a new process");
			this.systemd.extend(this.options.upgradeTimeout().plusSeconds(30));
		}
		CompletableFuture<Long> result = new CompletableFuture<>();
		Map<String, String> notes = this.lineage.notes(cause);
		Thread upgrade = new Thread(() -> runUpgrade(notes, result), "tableflip-upgrade");
		upgrade.setDaemon(true);
		upgrade.start();
		return result;
	}

	private UpgradeException refusal() {
		return switch (this.state) {
			case STARTING -> new UpgradeException(Reason.NOT_READY, "this process is not ready yet");
			case UPGRADING -> new UpgradeException(Reason.IN_PROGRESS, "an upgrade is already in progress");
			case UPGRADED -> new UpgradeException(Reason.ALREADY_UPGRADED, "this process was already upgraded");
			case STOPPED -> new UpgradeException(Reason.STOPPED, "the upgrader was stopped");
			case READY -> (this.parent != null && !this.parent.exited().isDone())
					? new UpgradeException(Reason.PARENT_NOT_EXITED,
							"the previous process " + this.parent.pid() + " has not exited yet")
					: null;
		};
	}

	private void runUpgrade(Map<String, String> notes, CompletableFuture<Long> result) {
		long started = System.nanoTime();
		Child child = null;
		try {
			child = Child.start(command(), this.options.environment(), INITIAL_WORKING_DIRECTORY, this.fds.handoffs(),
					generation(), notes);
			logger.info("Upgrade: started new process {}", child.pid());
			if (!adopt(child)) {
				throw new UpgradeException(Reason.STOPPED, "the upgrader was stopped", child.pid(),
						Integer.MIN_VALUE, null);
			}
			awaitReady(child);
			if (!succeeded(child)) {
				throw new UpgradeException(Reason.STOPPED, "the upgrader was stopped", child.pid(),
						Integer.MIN_VALUE, null);
			}
			logger.info("Upgrade: new process {} is ready after {} ms", child.pid(),
					TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
			result.complete(child.pid());
		}
		catch (UpgradeException ex) {
			if (child != null) {
				child.kill();
			}
			failed(ex);
			logger.warn("Upgrade failed ({}): {}", ex.reason(), ex.getMessage());
			result.completeExceptionally(ex);
		}
		catch (RuntimeException ex) {
			if (child != null) {
				child.kill();
			}
			UpgradeException failure = new UpgradeException(Reason.SPAWN_FAILED, "upgrade failed: " + ex,
					(child != null) ? child.pid() : -1, Integer.MIN_VALUE, ex);
			failed(failure);
			logger.error("Upgrade failed", ex);
			result.completeExceptionally(failure);
		}
	}

	private void awaitReady(Child child) throws UpgradeException {
		Duration timeout = this.options.upgradeTimeout();
		try {
			child.ready().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
		}
		catch (TimeoutException ex) {
			throw new UpgradeException(Reason.TIMED_OUT,
					child + " was not ready within " + timeout.toMillis() + " ms and was killed", child.pid(),
					Integer.MIN_VALUE, null);
		}
		catch (ExecutionException ex) {
			if (ex.getCause() instanceof UpgradeException upgrade) {
				throw upgrade;
			}
			throw new UpgradeException(Reason.HANDSHAKE_FAILED, "the handoff to " + child + " failed: " + ex.getCause(),
					child.pid(), Integer.MIN_VALUE, ex.getCause());
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new UpgradeException(Reason.STOPPED, "interrupted while waiting for " + child, child.pid(),
					Integer.MIN_VALUE, ex);
		}
	}

	private List<String> command() {
		return this.options.command().isEmpty() ? Command.current() : this.options.command();
	}

	/** UPGRADING: the new process exists. False if stopped meanwhile. */
	private synchronized boolean adopt(Child child) {
		if (this.state != State.UPGRADING) {
			return false;
		}
		this.child = child;
		return true;
	}

	/** UPGRADING -> UPGRADED. False if stopped meanwhile. */
	private synchronized boolean succeeded(Child child) {
		if (this.state != State.UPGRADING) {
			return false;
		}
		this.state = State.UPGRADED;
		this.lineage = this.lineage.after(null, Instant.now());
		if (this.mainProcess) {
			this.systemd.handedOver(child.pid(), "Handed over to process " + child.pid() + " (generation "
					+ (generation() + 1) + "); process " + ProcessHandle.current().pid() + " drains");
			this.mainProcess = false; // from now on the new process speaks for the unit
		}
		this.exit.complete(null);
		return true;
	}

	/** UPGRADING -> READY, unless stopped meanwhile. */
	private synchronized void failed(UpgradeException failure) {
		this.child = null;
		this.lineage = this.lineage.after(failure, Instant.now());
		if (this.mainProcess && this.state == State.UPGRADING) {
			this.systemd.reloaded("Upgrade failed (" + failure.reason() + "): " + failure.getMessage() + "; "
					+ serving());
		}
		if (this.state == State.UPGRADING) {
			this.state = State.READY;
		}
	}

	/** The parent has exited: systemd took the main pid over to this process, which speaks from now on. */
	private synchronized void becameMainProcess() {
		this.mainProcess = true;
		if (this.state != State.STARTING) {
			this.systemd.status(serving());
		}
	}

	private String serving() {
		return "Serving: generation " + generation() + ", process " + ProcessHandle.current().pid() + ", "
				+ this.lineage.succeeded() + " upgrade(s) since " + this.lineage.firstStarted();
	}

	@Override
	public CompletableFuture<Void> exit() {
		return this.exit.copy();
	}

	@Override
	public void stop() {
		synchronized (this) {
			if (this.state == State.STOPPED) {
				return;
			}
			if (this.state == State.UPGRADING && this.child != null) {
				this.child.abort(new UpgradeException(Reason.STOPPED, "the upgrader was stopped", this.child.pid(),
						Integer.MIN_VALUE, null));
			}
			if (this.state != State.UPGRADED) {
				this.fds.removeUnixSockets();
				this.state = State.STOPPED;
				if (this.mainProcess) {
					this.systemd.stopping("Stopping: process " + ProcessHandle.current().pid() + " shuts down");
				}
			}
			this.exit.complete(null);
		}
		synchronized (ProcessUpgrader.class) {
			if (live == this) {
				live = null;
			}
		}
	}

	@Override
	public boolean hasParent() {
		return this.parent != null;
	}

	@Override
	public OptionalLong parentPid() {
		return (this.parent != null) ? OptionalLong.of(this.parent.pid()) : OptionalLong.empty();
	}

	@Override
	public void waitForParent(Duration timeout) throws TimeoutException, InterruptedException {
		if (this.parent == null) {
			return;
		}
		try {
			this.parent.exited().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
		}
		catch (ExecutionException ex) {
			throw new IllegalStateException(ex.getCause());
		}
	}

	@Override
	public int generation() {
		return this.lineage.generation();
	}

	@Override
	public Lineage lineage() {
		return this.lineage;
	}

}
