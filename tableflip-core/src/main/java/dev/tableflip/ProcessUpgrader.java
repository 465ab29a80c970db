package dev.tableflip;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import dev.tableflip.UpgradeException.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upgrader of a real process, and the one upgrade state machine. All state changes
 * happen in the synchronized methods below, following this table:
 *
 * <pre>
 * state     | ready() | upgrade()           | child ready         | child failed | child lost | probation over | stop()
 * ----------+---------+---------------------+---------------------+--------------+------------+----------------+--------------------
 * STARTING  | READY   | refuse NOT_READY    |                     |              |            |                | STOPPED
 * READY     | -       | UPGRADING, or a     |                     |              |            |                | STOPPED
 *           |         | refusal             |                     |              |            |                |
 * UPGRADING | -       | refuse IN_PROGRESS  | PROBATION, or       | READY        |            |                | kill child, STOPPED
 *           |         |                     | UPGRADED without one|              |            |                |
 * PROBATION | -       | refuse IN_PROGRESS  |                     |              | READY      | UPGRADED       | UPGRADED
 *           |         |                     |                     |              | (rollback) |                | (it serves on)
 * UPGRADED  | -       | refuse              |                     |              |            |                | -
 *           |         | ALREADY_UPGRADED    |                     |              |            |                |
 * STOPPED   | -       | refuse STOPPED      | kill child          |              |            |                | -
 * </pre>
 *
 * <p>"Child lost" is a new process that exited, or said it will not serve, after it was
 * ready. {@code exit()} completes on entering UPGRADED or STOPPED, always outside the lock,
 * so its callbacks may call anything (even {@code System.exit} while a shutdown hook calls
 * {@code stop()}). A new process that {@code stop()} kills is dead before {@code exit()}
 * completes.
 *
 * <p>Under systemd, one process at a time is the unit's main process and speaks for it: the
 * first one, and a new one from the moment its parent has exited. The main process keeps the
 * unit's {@code PIDFile=}, if it has one, naming the process systemd should take over if it
 * dies: itself, and during an upgrade, from the moment the new process holds the sockets until
 * it is ready (or the upgrade fails or stops), the new process; from the hand-over on, the new
 * process again.
 */
final class ProcessUpgrader implements Upgrader {

	private static final Logger logger = LoggerFactory.getLogger(ProcessUpgrader.class);

	/** The working directory this JVM started in: new processes start there too. */
	private static final Path INITIAL_WORKING_DIRECTORY = Path.of(System.getProperty("user.dir"));

	private static ProcessUpgrader live;

	/** The parent's descriptors are taken once per JVM, by the first upgrader. */
	private static boolean handoffTaken;

	/** Why taking them failed: every later create() fails alike, rather than start parentless. */
	private static IOException handoffFailure;

	/** The note that names systemd's UNIX socket files to every later generation. */
	private static final String SYSTEMD_SOCKET_FILES = "systemd.unix-sockets";

	enum State {

		STARTING, READY, UPGRADING, PROBATION, UPGRADED, STOPPED

	}

	private final UpgraderOptions options;

	private final Parent parent;

	private final Fds fds;

	private final CompletableFuture<Void> exit = new CompletableFuture<>();

	private final List<Consumer<UpgradeException>> rollbackListeners = new CopyOnWriteArrayList<>();

	private State state = State.STARTING;

	private volatile Lineage lineage;

	/** The new process from UPGRADING on; after UPGRADED, kept so its connection stays open. */
	private Child child;

	private final Systemd systemd;

	/**
	 * Whether this is the process systemd takes for the unit's main process: one started by
	 * hand, or one started by an upgrade once its parent has exited (the parent hands the main
	 * pid over when the probation is over, and speaks for the unit until then).
	 */
	private volatile boolean mainProcess;

	/** Whether the unit's PID file names the new process while it gets ready ({@link Systemd#follow}); under the lock. */
	private boolean unitFollowsChild;

	private ProcessUpgrader(UpgraderOptions options, Parent parent, Map<Descriptor, Integer> activated,
			Systemd systemd) {
		this.options = options;
		this.parent = parent;
		this.systemd = systemd;
		this.fds = new Fds((parent != null) ? parent.descriptors() : activated, options.listenConfig(),
				(parent != null) ? systemdSocketFiles(parent.notes())
						: SocketActivation.socketFilesOfSystemd(activated, System.getenv()));
		this.lineage = (parent != null) ? parent.lineage() : Lineage.first();
		this.mainProcess = parent == null;
		if (parent == null && options.pidFile() != null) {
			this.systemd.checkPidFile(INITIAL_WORKING_DIRECTORY.resolve(options.pidFile()));
		}
		if (parent != null) {
			// on a thread of its own: it may wait, and gone() completes exited() under this upgrader's lock
			parent.exited().thenRun(() -> {
				Thread main = new Thread(this::becameMainProcess, "tableflip-main-process");
				main.setDaemon(true);
				main.start();
			});
		}
		else {
			this.systemd.extend(options.upgradeTimeout()); // the first start may take as long as a new process may
		}
	}

	static synchronized ProcessUpgrader create(UpgraderOptions options) throws IOException {
		if (System.getProperty("os.name", "").startsWith("Windows")) {
			throw new UnsupportedEnvironmentException(
					"tableflip needs UNIX sockets and descriptor passing, which Windows lacks",
					"Run the service on Linux, or use Upgrader.stub() (tableflip.enabled=false in Spring Boot) where "
							+ "upgrades are not needed");
		}
		if (!System.getProperty("os.name", "").equals("Linux")) {
			throw new UnsupportedEnvironmentException("tableflip upgrades processes on Linux only (it checks who "
					+ "connects to the handoff by SO_PEERCRED), not on " + System.getProperty("os.name"),
					"Run the service on Linux, or use Upgrader.stub() (tableflip.enabled=false in Spring Boot) where "
							+ "upgrades are not needed, such as on a developer's machine");
		}
		JdkChannels.checkAccessible();
		Native.checkAvailable();
		if (live != null) {
			throw new IllegalStateException(
					"this process already has a live Upgrader: stop() it before creating another");
		}
		if (handoffFailure != null) {
			throw new IOException(handoffFailure.getMessage(), handoffFailure);
		}
		Parent parent = null;
		Map<Descriptor, Integer> activated = Map.of();
		if (!handoffTaken) {
			try {
				parent = Parent.connect(System.getenv());
			}
			catch (IOException ex) {
				handoffFailure = ex;
				throw ex;
			}
			handoffTaken = true;
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
		if (this.parent != null && StartPriority.restore(this.parent.notes())) {
			// Serving from now on, at the old process's priority, beside its exit at a lower one.
			StartPriority.shortSlices("while the old process " + this.parent.pid() + " exits");
			this.parent.exited().thenRun(StartPriority::defaultSlices);
		}
		this.fds.closeInherited();
		if (this.options.pidFile() != null) {
			Path pidFile = INITIAL_WORKING_DIRECTORY.resolve(this.options.pidFile());
			try {
				PidFile.write(pidFile, ProcessHandle.current().pid());
			}
			catch (IOException ex) {
				String reason = "cannot write the PID file " + pidFile + ": " + describe(ex);
				try {
					tellParentFailed(reason);
				}
				catch (IOException gone) {
					logger.warn("Could not tell the old process {} why: {}", this.parent.pid(), describe(gone));
				}
				throw new IOException(reason, ex);
			}
		}
		// Ready before the parent is told: a parent that died meanwhile leaves this process
		// serving alone (it holds every listener), not stuck before ready.
		this.state = State.READY;
		if (this.parent != null) {
			try {
				this.parent.sendReady();
			}
			catch (IOException ex) {
				logger.warn("Could not tell the old process {} that process {} is ready ({}): it has exited; "
						+ "this process serves alone", this.parent.pid(), ProcessHandle.current().pid(), describe(ex));
				this.parent.gone(); // this process is the unit's main process now
			}
		}
		logger.info("Process {} is ready (generation {})", ProcessHandle.current().pid(), generation());
		String handoffProblem = Child.handoffSocketProblem();
		if (handoffProblem != null) {
			logger.warn("Upgrades of process {} will fail: {}", ProcessHandle.current().pid(), handoffProblem);
		}
		if (this.mainProcess) {
			storeWithSystemd();
			// the first process; or a new one whose parent died before it was ready (see becameMainProcess)
			this.systemd.follow(ProcessHandle.current().pid());
			this.systemd.ready(serving());
		}
	}

	/**
	 * Puts the sockets in use in the unit's file-descriptor store, if it has one: a crash of the
	 * main process then closes none of them, and systemd passes them to the process it restarts.
	 * Only the main process may (NotifyAccess=main); systemd keeps one copy of each socket.
	 */
	private void storeWithSystemd() {
		for (Fds.Handoff handoff : this.fds.handoffs()) {
			Descriptor.Kind kind = handoff.descriptor().kind();
			if (kind == Descriptor.Kind.LISTENER || kind == Descriptor.Kind.PACKET) {
				this.systemd.store(handoff.fd(), Systemd.STORE_NAME);
			}
		}
	}

	@Override
	public synchronized void fail(String reason) throws IOException {
		boolean probation = this.state == State.READY && this.parent != null && !this.parent.exited().isDone();
		if (this.state != State.STARTING && !probation) {
			return;
		}
		tellParentFailed(reason);
	}

	private void tellParentFailed(String reason) throws IOException {
		if (this.parent == null) {
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
			// Type=notify-reload waits for RELOADING=1 and READY=1 after its SIGHUP, even for nothing.
			// A new process whose parent still drains is the unit's main process already (the main pid
			// moved at the end of the probation) though it does not speak for the unit yet: answer too.
			boolean mainForSystemd = this.mainProcess || refusal.reason() == Reason.PARENT_NOT_EXITED;
			if (mainForSystemd && (this.state == State.READY || this.state == State.PROBATION)) {
				this.systemd.reloading("Upgrade (" + cause + ") refused");
				this.systemd.reloaded("Upgrade (" + cause + ") refused (" + refusal.reason() + "): "
						+ refusal.getMessage() + "; " + serving());
			}
			return CompletableFuture.failedFuture(refusal);
		}
		if (this.mainProcess) {
			this.systemd.reloading("Upgrading (" + cause + "): starting a new process");
			this.systemd.extend(this.options.upgradeTimeout().plusSeconds(30));
		}
		// Started under the lock, so that stop() always sees the new process it must kill.
		boolean startedLower;
		try {
			Map<String, String> notes = notes(cause);
			List<String> command = StartPriority.command(command(), this.options.startNice(), notes);
			this.child = Child.start(command, this.options.environment(), INITIAL_WORKING_DIRECTORY,
					this.fds.handoffs(), generation(), notes);
			startedLower = notes.containsKey(StartPriority.NOTE);
		}
		catch (UpgradeException ex) {
			this.state = State.UPGRADING;
			failed(ex);
			logger.warn("Upgrade failed ({}): {}", ex.reason(), ex.getMessage());
			return CompletableFuture.failedFuture(ex);
		}
		this.state = State.UPGRADING;
		logger.info("Upgrade ({}): started new process {}", cause, this.child.pid());
		CompletableFuture<Long> result = new CompletableFuture<>();
		Child started = this.child;
		started.handedOff().thenRun(() -> successorHoldsTheSockets(started));
		Thread upgrade = new Thread(() -> runUpgrade(started, startedLower, result), "tableflip-upgrade");
		upgrade.setDaemon(true);
		upgrade.start();
		return result;
	}

	private UpgradeException refusal() {
		return switch (this.state) {
			case STARTING -> new UpgradeException(Reason.NOT_READY, "this process is not ready yet");
			case UPGRADING -> new UpgradeException(Reason.IN_PROGRESS, "an upgrade is already in progress");
			case PROBATION -> new UpgradeException(Reason.IN_PROGRESS,
					"an upgrade is in progress: new process " + this.child.pid() + " is on probation");
			case UPGRADED -> new UpgradeException(Reason.ALREADY_UPGRADED, "this process was already upgraded");
			case STOPPED -> new UpgradeException(Reason.STOPPED, "the upgrader was stopped");
			case READY -> (this.parent != null && !this.parent.exited().isDone())
					? new UpgradeException(Reason.PARENT_NOT_EXITED,
							"the previous process " + this.parent.pid() + " has not exited yet")
					: null;
		};
	}

	private void runUpgrade(Child child, boolean startedLower, CompletableFuture<Long> result) {
		long started = System.nanoTime();
		if (startedLower) {
			StartPriority.shortSlices("while the new process " + child.pid() + " starts at a lower priority");
		}
		boolean ready = false;
		try {
			awaitReady(child);
			long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
			if (!childReady(child, took)) {
				throw new UpgradeException(Reason.STOPPED, "the upgrader was stopped", child.pid(),
						Integer.MIN_VALUE, null);
			}
			ready = true;
			result.complete(child.pid());
			// Armed after the caller learnt of the success: a rollback always comes after it.
			if (!this.options.probation().isZero()) {
				child.lost().thenAccept(this::rollBack);
				Thread timer = new Thread(() -> endProbation(child, this.options.probation()), "tableflip-probation");
				timer.setDaemon(true);
				timer.start();
			}
		}
		catch (UpgradeException ex) {
			child.kill();
			failed(ex);
			logger.warn("Upgrade failed ({}): {}", ex.reason(), ex.getMessage());
			result.completeExceptionally(ex);
		}
		catch (RuntimeException ex) {
			child.kill();
			UpgradeException failure = new UpgradeException(Reason.SPAWN_FAILED, "upgrade failed: " + ex,
					child.pid(), Integer.MIN_VALUE, ex);
			failed(failure);
			logger.error("Upgrade failed", ex);
			result.completeExceptionally(failure);
		}
		finally {
			// Gone: this process serves alone again. Ready: this one keeps serving its connections
			// (the overlap, the probation, the drain) beside the new one, which finishes compiling
			// at full priority now, and keeps its short slices until it exits (exiting()).
			if (!ready) {
				StartPriority.defaultSlices();
			}
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

	/**
	 * The new process holds the sockets: if this process dies before the new one is ready, the
	 * new one goes on alone and serves once ready, so systemd should take it for the main
	 * process ({@link Systemd#follow}). Only while the unit is {@code reloading} (a notify unit
	 * after RELOADING=1): systemd then runs no {@code ExecReload=} command, after which it would
	 * read the file too and take the new process over while this one lives. Not earlier: the
	 * {@code kill} of {@code ExecReload=kill -HUP} has exited by then, and a blocking
	 * {@code ExecReload=} returns only when the new process is ready, when the file names this
	 * process again ({@link #childReady}).
	 */
	private synchronized void successorHoldsTheSockets(Child child) {
		if (this.mainProcess && this.systemd.notifies() && this.child == child && this.state == State.UPGRADING) {
			this.unitFollowsChild = this.systemd.follow(child.pid());
		}
	}

	/** The new process is ready, failed, or this one stops: systemd should follow this process again. Under the lock. */
	private void unitFollowsThisProcessAgain() {
		if (this.unitFollowsChild) {
			this.unitFollowsChild = false;
			this.systemd.follow(ProcessHandle.current().pid());
		}
	}

	/** What the new process learns besides the descriptors: its lineage, and which sockets are systemd's. */
	private Map<String, String> notes(String cause) {
		Map<String, String> notes = new LinkedHashMap<>(this.lineage.notes(cause));
		if (!this.fds.systemdSocketFiles().isEmpty()) {
			notes.put(SYSTEMD_SOCKET_FILES, String.join("\n", this.fds.systemdSocketFiles()));
		}
		return notes;
	}

	private static Set<String> systemdSocketFiles(Map<String, String> notes) {
		String files = notes.get(SYSTEMD_SOCKET_FILES);
		return (files == null || files.isEmpty()) ? Set.of() : Set.of(files.split("\n"));
	}

	private List<String> command() {
		return this.options.command().isEmpty() ? Command.current() : this.options.command();
	}

	/** UPGRADING -> PROBATION, or UPGRADED without one. False if stopped meanwhile. */
	private boolean childReady(Child child, long tookMillis) {
		Duration probation = this.options.probation();
		synchronized (this) {
			if (this.state != State.UPGRADING) {
				return false;
			}
			// before the unit is active again (READY=1) and before upgrade() returns (a blocking ExecReload=)
			unitFollowsThisProcessAgain();
			if (probation.isZero()) {
				logger.info("Upgrade: new process {} is ready after {} ms", child.pid(), tookMillis);
				handOver(child);
			}
			else {
				this.state = State.PROBATION;
				logger.info("Upgrade: new process {} is ready after {} ms; it is on probation for {} ms, during "
						+ "which this process keeps its listeners and takes the service back if it dies", child.pid(),
						tookMillis, probation.toMillis());
				if (this.mainProcess) {
					this.systemd.reloaded("Probation: new process " + child.pid() + " is ready; process "
							+ ProcessHandle.current().pid() + " takes the service back if it dies within "
							+ probation.toMillis() + " ms");
				}
			}
		}
		if (probation.isZero()) {
			this.exit.complete(null);
		}
		return true;
	}

	/** PROBATION -> UPGRADED once the probation is over. */
	private void endProbation(Child child, Duration probation) {
		try {
			child.lost().get(probation.toNanos(), TimeUnit.NANOSECONDS);
			return; // lost within the probation: rolled back
		}
		catch (TimeoutException ex) {
			// survived its probation
		}
		catch (InterruptedException | ExecutionException ex) {
			return;
		}
		synchronized (this) {
			if (this.state != State.PROBATION || this.child != child) {
				return;
			}
			logger.info("Upgrade: new process {} passed its probation; process {} hands over", child.pid(),
					ProcessHandle.current().pid());
			handOver(child);
		}
		this.exit.complete(null);
	}

	/** -> UPGRADED: the new process is the service from now on. Called under the lock. */
	private void handOver(Child child) {
		this.state = State.UPGRADED;
		this.lineage = this.lineage.after(null, Instant.now());
		if (this.mainProcess) {
			this.systemd.follow(child.pid()); // if it dies during this process's drain, the unit stops
			this.systemd.handedOver(child.pid(), "Handed over to process " + child.pid() + " (generation "
					+ (generation() + 1) + "); process " + ProcessHandle.current().pid() + " drains");
			this.mainProcess = false; // from now on the new process speaks for the unit
		}
	}

	/**
	 * PROBATION -> READY: the new process died or gave up after it was ready; this one serves
	 * again, alone, and so with the kernel's default time slices if it took short ones.
	 */
	private void rollBack(UpgradeException lost) {
		synchronized (this) {
			if (this.state != State.PROBATION || this.child == null || this.child.pid() != lost.childPid().orElse(-1)) {
				logger.warn("New process {} is gone after the handover: {}", lost.childPid().orElse(-1),
						lost.getMessage());
				return;
			}
			this.state = State.READY;
			this.child = null;
			this.lineage = this.lineage.after(lost, Instant.now());
			String message = lost.getMessage() + "; process " + ProcessHandle.current().pid()
					+ " took the service back";
			logger.warn("Upgrade rolled back ({}): {}", lost.reason(), message);
			if (this.options.pidFile() != null) {
				Path pidFile = INITIAL_WORKING_DIRECTORY.resolve(this.options.pidFile());
				try {
					PidFile.write(pidFile, ProcessHandle.current().pid());
				}
				catch (IOException ex) {
					logger.error("Cannot write the PID file {} after the rollback: {}; it may name the dead process",
							pidFile, describe(ex));
				}
			}
			if (this.mainProcess) {
				this.systemd.reloaded("Upgrade rolled back (" + lost.reason() + "): " + message + "; " + serving());
			}
		}
		StartPriority.defaultSlices();
		UpgradeException rolledBack = new UpgradeException(lost.reason(), lost.getMessage(),
				lost.childPid().orElse(-1), lost.exitCode().orElse(Integer.MIN_VALUE), null);
		for (Consumer<UpgradeException> listener : this.rollbackListeners) {
			try {
				listener.accept(rolledBack);
			}
			catch (RuntimeException ex) {
				logger.error("A rollback listener failed", ex);
			}
		}
	}

	/** UPGRADING -> READY, unless stopped meanwhile. */
	private synchronized void failed(UpgradeException failure) {
		this.child = null;
		this.lineage = this.lineage.after(failure, Instant.now());
		unitFollowsThisProcessAgain();
		if (this.mainProcess && this.state == State.UPGRADING) {
			this.systemd.reloaded("Upgrade failed (" + failure.reason() + "): " + failure.getMessage() + "; "
					+ serving());
		}
		if (this.state == State.UPGRADING) {
			this.state = State.READY;
		}
	}

	/**
	 * The parent has exited, and this process speaks for the unit from now on. After a hand-over
	 * systemd took the main pid over to this process already (MAINPID=); if the parent died,
	 * systemd takes it from the unit's PID file ({@link Systemd#follow}) as it reaps the parent:
	 * until then it would drop what this process says, so this waits for that first.
	 */
	private void becameMainProcess() {
		synchronized (this) {
			this.mainProcess = true;
		}
		if (this.systemd.inUse()) {
			awaitReaped(this.parent.pid());
		}
		synchronized (this) {
			long self = ProcessHandle.current().pid();
			if (this.state == State.STARTING) {
				logger.warn("The old process {} exited before process {} was ready: this process goes on alone and "
						+ "serves once it is ready", this.parent.pid(), self);
				this.systemd.follow(self);
				this.systemd.status("Starting: process " + self + " (generation " + generation()
						+ ") goes on alone; the old process " + this.parent.pid() + " exited before it was ready");
			}
			else if (this.state == State.READY) { // not during an upgrade of its own, which speaks for itself
				this.systemd.follow(self);
				storeWithSystemd();
				this.systemd.ready(serving());
			}
		}
	}

	/** Waits, a few seconds at most, until the exited process is reaped: its reaper (systemd) has handled its exit. */
	private static void awaitReaped(long pid) {
		Path entry = Path.of("/proc", Long.toString(pid));
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
		while (Files.exists(entry)) {
			if (System.nanoTime() > deadline) {
				logger.warn("The old process {} is not reaped after 5 s: systemd may drop what this process tells it "
						+ "until it is", pid);
				return;
			}
			try {
				Thread.sleep(10);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
				return;
			}
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
	public void exiting() {
		synchronized (this) {
			if (this.state != State.UPGRADED) {
				return;
			}
		}
		StartPriority.lower(this.options.startNice());
		StartPriority.defaultSlices(); // serving no more: the new process's threads take the CPU as they wake
	}

	@Override
	public void onRollback(Consumer<UpgradeException> listener) {
		this.rollbackListeners.add(Objects.requireNonNull(listener, "listener"));
	}

	@Override
	public void stop() {
		Child killed = null;
		synchronized (this) {
			// Only the last process to serve its UNIX sockets removes their files: not one whose
			// parent still serves them (before ready, or during the parent's probation), nor one
			// that hands over.
			boolean parentServes = this.parent != null && !this.parent.exited().isDone();
			boolean last = !parentServes
					&& (this.state == State.STARTING || this.state == State.READY || this.state == State.UPGRADING);
			switch (this.state) {
				case STOPPED, UPGRADED -> {
				}
				case PROBATION -> {
					logger.info("Stopped during the probation of new process {}: it is ready and serves on",
							this.child.pid());
					handOver(this.child);
				}
				case UPGRADING -> {
					killed = this.child;
					this.state = State.STOPPED;
					unitFollowsThisProcessAgain();
				}
				case STARTING, READY -> this.state = State.STOPPED;
			}
			if (this.state == State.STOPPED && !this.exit.isDone() && last) {
				this.fds.removeUnixSockets();
			}
			if (this.state == State.STOPPED && !this.exit.isDone()) {
				if (this.mainProcess) {
					this.systemd.stopping("Stopping: process " + ProcessHandle.current().pid() + " shuts down");
				}
			}
		}
		if (killed != null) {
			killed.abort(new UpgradeException(Reason.STOPPED, "the upgrader was stopped", killed.pid(),
					Integer.MIN_VALUE, null));
			killed.kill();
			logger.info("Stopped during an upgrade: killed new process {}, which was not ready", killed.pid());
		}
		synchronized (ProcessUpgrader.class) {
			if (live == this) {
				live = null;
			}
		}
		this.exit.complete(null);
	}

	private static String describe(IOException ex) {
		String message = ex.getMessage();
		return (message != null && !message.isBlank()) ? message : ex.getClass().getSimpleName();
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
