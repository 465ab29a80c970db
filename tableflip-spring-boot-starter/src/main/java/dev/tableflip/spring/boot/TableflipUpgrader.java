package dev.tableflip.spring.boot;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import dev.tableflip.Descriptor;
import dev.tableflip.Fds;
import dev.tableflip.Lineage;
import dev.tableflip.UpgradeException;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.Upgrader;
import dev.tableflip.UpgraderOptions;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

/**
 * The application's side of tableflip: the core {@link Upgrader} of this JVM plus what a
 * Spring application wants to know about it (state, generation, the last upgrades) and the
 * hooks that run when this process hands over and drains.
 */
public class TableflipUpgrader {

	private static final Log logger = LogFactory.getLog(TableflipUpgrader.class);

	private static final int HISTORY_SIZE = 16;

	/** Where this process is in its life. */
	public enum State {

		/** Started, not ready yet. */
		STARTING,

		/** Serving, can be upgraded. */
		READY,

		/** A new process is starting. */
		UPGRADING,

		/**
		 * A new process is ready; this one still accepts beside it while the takeover's
		 * after-ready steps (the overlap) run.
		 */
		OVERLAPPING,

		/** A new process took over; this one no longer accepts, finishes its requests and exits. */
		DRAINING,

		/** Shut down without an upgrade. */
		STOPPED

	}

	private final Upgrader upgrader;

	private final boolean shared;

	private final Deque<UpgradeRecord> history = new ArrayDeque<>();

	private final List<Consumer<UpgradeRecord>> upgradeListeners = new CopyOnWriteArrayList<>();

	private final List<DrainParticipant> drainParticipants = new CopyOnWriteArrayList<>();

	private volatile State state = State.STARTING;

	private volatile @Nullable String step;

	private final KeepAlive keepAlive = new KeepAlive();

	private final Intake intake;

	private final CompletableFuture<Void> ready = new CompletableFuture<>();

	private volatile boolean upgraded;

	private volatile boolean stopping;

	/** Wraps an upgrader the caller owns. */
	public TableflipUpgrader(Upgrader upgrader) {
		this(upgrader, false);
	}

	private TableflipUpgrader(Upgrader upgrader, boolean shared) {
		this.upgrader = upgrader;
		this.shared = shared;
		this.intake = new Intake(this.ready, upgrader.hasParent());
	}

	/**
	 * The upgrader of this JVM, shared by every application context in it; the last
	 * {@link #stop()} stops it.
	 */
	public static TableflipUpgrader shared(UpgraderOptions options) throws IOException {
		return new TableflipUpgrader(SharedUpgrader.acquire(options), true);
	}

	/** The core upgrader. */
	public Upgrader upgrader() {
		return this.upgrader;
	}

	/**
	 * The listening socket for a web server on this address and port: the one inherited from
	 * the old process, or a new one. For port 0 the inherited TCP listener on the same
	 * address, whatever port it got, is reused, so that a random port survives upgrades.
	 * @param address the address to bind, {@code null} for all
	 */
	public ServerSocketChannel listener(@Nullable InetAddress address, int port) throws IOException {
		String host = (address == null) ? "" : address.getHostAddress();
		if (host.contains(":")) {
			host = "[" + host + "]";
		}
		Fds fds = fds();
		if (port == 0) {
			for (Descriptor inherited : fds.inherited()) {
				if (inherited.kind() == Descriptor.Kind.LISTENER && inherited.network().equals("tcp")
						&& inherited.address().startsWith(host + ":")
						&& inherited.address().indexOf(':', host.length() + 1) < 0) {
					return fds.listener("tcp", inherited.address());
				}
			}
		}
		return fds.listen("tcp", host + ":" + port);
	}

	/** The registry of inherited and used sockets. */
	public Fds fds() {
		return this.upgrader.fds();
	}

	public State state() {
		return this.state;
	}

	/** The takeover step running in this process, if any ("warm-up", "overlap"). */
	public @Nullable String step() {
		return this.step;
	}

	void step(@Nullable String name) {
		this.step = name;
	}

	/** Whether responses keep their connection alive: the servers ask for each response. */
	public KeepAlive keepAlive() {
		return this.keepAlive;
	}

	/**
	 * From now on this process no longer accepts and every response ends its connection: the
	 * intake closes, every server stops accepting, and this process's copy of each listener is
	 * closed while the servers still run (nothing accepted is dropped).
	 */
	void draining() {
		this.state = State.DRAINING;
		stopAccepting();
	}

	/**
	 * For a shutdown without an upgrade ({@code SIGTERM}, {@code systemctl stop}): stops
	 * accepting the way a drain does, before the servers' graceful shutdown pauses them, so that
	 * connections already accepted are served rather than dropped, and connections still in the
	 * listener's queue stay there for whoever else holds it (systemd, with socket activation).
	 * @return whether this process was serving and now quiesces; {@code false} during an upgrade,
	 * whose drain does this itself
	 */
	public boolean quiesce() {
		if (this.state != State.READY) {
			return false;
		}
		stopAccepting();
		return true;
	}

	private void stopAccepting() {
		this.intake.close();
		this.keepAlive.end();
		this.drainParticipants.forEach(DrainParticipant::stopAccepting);
		fds().closeListeners();
	}

	/** 1 for a process started by hand, one more for each upgrade since. */
	public int generation() {
		return this.upgrader.generation();
	}

	/**
	 * The story of this service across upgrades: when and why this process was started, and
	 * the upgrades of this process and all its ancestors.
	 */
	public Lineage lineage() {
		return this.upgrader.lineage();
	}

	public long pid() {
		return ProcessHandle.current().pid();
	}

	public OptionalLong parentPid() {
		return this.upgrader.parentPid();
	}

	/** The last upgrades, oldest first. */
	public synchronized List<UpgradeRecord> history() {
		return List.copyOf(this.history);
	}

	/**
	 * Adds a server to the drain after a successful upgrade. Server adapters register
	 * themselves, in whichever application context (main or management) they serve.
	 */
	public void participate(DrainParticipant participant) {
		this.drainParticipants.add(participant);
	}

	/** The servers that take part in the drain. */
	public List<DrainParticipant> drainParticipants() {
		return List.copyOf(this.drainParticipants);
	}

	/** Calls {@code listener} after each upgrade attempt. */
	public void onUpgrade(Consumer<UpgradeRecord> listener) {
		this.upgradeListeners.add(listener);
	}

	/** Tells the parent, if any, that this process serves. */
	public void ready() throws IOException {
		this.upgrader.ready();
		if (this.state == State.STARTING) {
			this.state = State.READY;
		}
		this.ready.complete(null);
	}

	/**
	 * Tells the parent, if any, that this process will not serve and why; its upgrade fails
	 * with that reason. This process should exit next.
	 */
	public void fail(String reason) throws IOException {
		this.upgrader.fail(reason);
	}

	/**
	 * When servers may accept from the listeners: at once in a process started by hand; in a
	 * process started by an upgrade, not before it is {@link #ready() ready}, then for a growing
	 * part of the time during the overlap.
	 */
	public Intake intake() {
		return this.intake;
	}

	/**
	 * Starts a new process and waits until it is ready or failed.
	 * @param trigger what asked for it, for the record
	 */
	public UpgradeRecord upgrade(String trigger) {
		return upgradeAsync(trigger).join();
	}

	/** Like {@link #upgrade(String)}, without blocking; the future never fails. */
	public CompletableFuture<UpgradeRecord> upgradeAsync(String trigger) {
		Instant startedAt = Instant.now();
		long started = System.nanoTime();
		CompletableFuture<Long> upgrade = this.upgrader.upgradeAsync(trigger);
		boolean spawning = !upgrade.isDone(); // refusals fail at once and change nothing
		if (spawning) {
			this.state = State.UPGRADING;
			logger.info("Upgrade triggered by " + trigger + ": starting a new process");
		}
		return upgrade.handle((childPid, failure) -> {
			Duration duration = Duration.ofNanos(System.nanoTime() - started);
			UpgradeRecord record;
			if (failure == null) {
				this.upgraded = true;
				this.state = State.OVERLAPPING;
				record = new UpgradeRecord(startedAt, trigger, Outcome.SUCCEEDED, null,
						"new process " + childPid + " is ready", childPid, null, duration);
				logger.info("Upgrade succeeded: new process " + childPid + " is ready after " + duration.toMillis()
						+ " ms; this process " + pid() + " hands over and drains");
			}
			else {
				if (spawning && this.state == State.UPGRADING) {
					this.state = State.READY;
				}
				record = failed(startedAt, trigger, duration, unwrap(failure));
			}
			remember(record);
			return record;
		});
	}

	private UpgradeRecord failed(Instant startedAt, String trigger, Duration duration, UpgradeException failure) {
		Outcome outcome = switch (failure.reason()) {
			case NOT_READY, PARENT_NOT_EXITED, IN_PROGRESS, ALREADY_UPGRADED, UNSUPPORTED, COMMAND_NOT_RUNNABLE,
					NOT_ENOUGH_MEMORY, TOO_MANY_OPEN_FILES ->
				Outcome.REFUSED;
			case STOPPED -> failure.childPid().isPresent() ? Outcome.FAILED : Outcome.REFUSED;
			case SPAWN_FAILED, CHILD_EXITED, CHILD_FAILED, TIMED_OUT, HANDSHAKE_FAILED -> Outcome.FAILED;
		};
		Long childPid = failure.childPid().isPresent() ? failure.childPid().getAsLong() : null;
		Integer exitCode = failure.exitCode().isPresent() ? failure.exitCode().getAsInt() : null;
		if (outcome == Outcome.FAILED) {
			logger.warn("Upgrade failed (" + failure.reason() + "): " + failure.getMessage()
					+ "; this process keeps serving");
		}
		else {
			logger.info("Upgrade refused (" + failure.reason() + "): " + failure.getMessage());
		}
		return new UpgradeRecord(startedAt, trigger, outcome, failure.reason(), failure.getMessage(), childPid,
				exitCode, duration);
	}

	private static UpgradeException unwrap(Throwable failure) {
		Throwable cause = failure;
		while (!(cause instanceof UpgradeException) && cause.getCause() != null) {
			cause = cause.getCause();
		}
		return (cause instanceof UpgradeException upgrade) ? upgrade
				: new UpgradeException(Reason.SPAWN_FAILED, String.valueOf(failure), -1, Integer.MIN_VALUE, failure);
	}

	private void remember(UpgradeRecord record) {
		synchronized (this) {
			this.history.addLast(record);
			while (this.history.size() > HISTORY_SIZE) {
				this.history.removeFirst();
			}
		}
		for (Consumer<UpgradeRecord> listener : this.upgradeListeners) {
			listener.accept(record);
		}
	}

	/** Completes when this process should exit: after a successful upgrade or a stop. */
	public CompletableFuture<Void> exit() {
		return this.upgrader.exit();
	}

	/**
	 * Completes when a new process took over and this one should drain; never completes if
	 * the application is stopped instead.
	 */
	public CompletableFuture<Void> handedOver() {
		return this.upgrader.exit().thenCompose((exit) -> this.stopping ? new CompletableFuture<>()
				: CompletableFuture.completedFuture(null));
	}

	/** No more upgrades: the application is shutting down. */
	public void stop() {
		this.stopping = true;
		if (!this.upgraded) {
			this.state = State.STOPPED;
		}
		if (this.shared) {
			SharedUpgrader.release(this.upgrader);
		}
		else {
			this.upgrader.stop();
		}
	}

}
