package dev.tableflip.spring.boot;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import dev.tableflip.UpgradeException;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.Upgrader;
import dev.tableflip.spring.boot.Takeover.TakeoverFailedException;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The life of this process on the Spring side, from the application's start to its exit: the
 * starter's one state machine. It alone writes the state, runs the takeover's steps, drives
 * the {@link Intake} and {@link KeepAlive}, calls the {@link DrainParticipant drain
 * participants} and the application's {@link DrainListener}s, and owns the threads and
 * {@link System#exit}. {@link TableflipUpgrader} is
 * its view for the endpoint, health and metrics. Every move follows this table, checked
 * against the state it leaves, whichever thread makes it:
 *
 * <pre>
 * state     | steps passed | steps failed | upgrade   | new process ready | upgrade failed | new process lost | handed over | stop
 * ----------+--------------+--------------+-----------+-------------------+----------------+------------------+-------------+----------------
 * STARTING  | READY        | STOPPED,     | refused   |                   |                |                  |             | STOPPED
 *           |              | exit 1       |           |                   |                |                  |             |
 * READY     |              |              | UPGRADING |                   |                |                  |             | STOPPED, quiet
 * UPGRADING |              |              | refused   | PROBATION, start  | READY          |                  |             | STOPPED (the core
 *           |              |              |           | the hand-over     |                |                  |             | kills the new one)
 * PROBATION |              |              | refused   |                   |                | READY, end the   | DRAINING,   | STOPPED, quiet
 *           |              |              |           |                   |                | hand-over        | drain       | (the new one serves)
 * DRAINING  |              |              | refused   |                   |                |                  |             | -
 * STOPPED   |              |              | refused   |                   |                |                  |             | -
 * </pre>
 *
 * <p>The hand-over, on its own thread, runs the after-ready steps (the overlap) and waits for
 * the core's {@code exit()}, which completes when the new process passed its probation: that
 * is "handed over". The drain ends in {@code System.exit}; a process whose before-ready steps
 * failed exits with status 1. "Quiet" stops accepting before the servers' graceful shutdown
 * ({@link #stop()}). A refused upgrade changes nothing.
 */
public final class ProcessLife {

	private static final Log logger = LogFactory.getLog(ProcessLife.class);

	private static final int HISTORY_SIZE = 16;

	/** Where this process is in its life. */
	public enum State {

		/** Started, not ready yet: the application starts, then the before-ready steps run. */
		STARTING,

		/** Serving, can be upgraded. */
		READY,

		/** A new process is starting. */
		UPGRADING,

		/**
		 * A new process is ready and on probation: this one keeps its listeners and accepts
		 * beside it while the takeover's after-ready steps (the overlap) run, and takes the
		 * service back if the new process dies or gives up.
		 */
		PROBATION,

		/** A new process took over; this one no longer accepts, finishes its requests and exits. */
		DRAINING,

		/** Shut down without an upgrade, or never became ready. */
		STOPPED

	}

	/**
	 * What the life needs of the application it runs in, given once the application started.
	 *
	 * @param context the application's context, closed by the drain
	 * @param takeover the steps around the moment a new process is ready
	 * @param upgradeSignal the signal that upgrades ({@code HUP}), or {@code null} for none
	 * @param drainGrace how long idle keep-alive clients get between the end of accepting and
	 * the graceful shutdown
	 * @param webSocketCloseWindow over how long the drain closes the WebSocket sessions, one
	 * after another
	 * @param exitTimeout the hard deadline of a drain
	 * @param drained told how long the drain took
	 */
	public record Application(ConfigurableApplicationContext context, Takeover takeover,
			@Nullable String upgradeSignal, Duration drainGrace, Duration webSocketCloseWindow, Duration exitTimeout,
			Consumer<Duration> drained) {
	}

	private final Upgrader upgrader;

	private final KeepAlive keepAlive = new KeepAlive();

	private final InFlightRequests requests = new InFlightRequests();

	private final CompletableFuture<Void> ready = new CompletableFuture<>();

	private final Intake intake;

	private final List<DrainParticipant> drainParticipants = new CopyOnWriteArrayList<>();

	private final List<Consumer<UpgradeRecord>> upgradeListeners = new CopyOnWriteArrayList<>();

	private final List<Consumer<String>> upgradeStartListeners = new CopyOnWriteArrayList<>();

	private final List<Consumer<@Nullable String>> stepListeners = new CopyOnWriteArrayList<>();

	private final Deque<UpgradeRecord> history = new ArrayDeque<>();

	private State state = State.STARTING;

	private volatile @Nullable String step;

	private volatile @Nullable Application application;

	/** Runs the after-ready steps and waits for the end of the probation; a rollback interrupts it. */
	private volatile @Nullable Thread handOver;

	ProcessLife(Upgrader upgrader) {
		this.upgrader = upgrader;
		this.intake = new Intake(this.ready, upgrader.hasParent());
		upgrader.onRollback(this::rolledBack);
		if (upgrader.hasParent()) {
			Thread parent = new Thread(this::awaitParentExit, "tableflip-parent-exit");
			parent.setDaemon(true);
			parent.start();
		}
	}

	/** Once the old process has exited (drained, or died), nobody else accepts: the intake settles. */
	private void awaitParentExit() {
		try {
			this.upgrader.waitForParent(Duration.ofDays(365));
			this.intake.settle();
		}
		catch (TimeoutException | InterruptedException ex) {
			// a year later, or the JVM ends: nothing to do
		}
	}

	/**
	 * Moves to {@code to} if the state is one of {@code from}: the only place the state is
	 * written.
	 * @return whether it moved
	 */
	private synchronized boolean move(State to, State... from) {
		for (State state : from) {
			if (this.state == state) {
				this.state = to;
				return true;
			}
		}
		return false;
	}

	/** Where this process is in its life now. */
	public synchronized State state() {
		return this.state;
	}

	/** The step running in this process, if any: a takeover step ("warm-up", "overlap") or "drain". */
	public @Nullable String step() {
		return this.step;
	}

	void step(@Nullable String name) {
		this.step = name;
		for (Consumer<@Nullable String> listener : this.stepListeners) {
			try {
				listener.accept(name);
			}
			catch (RuntimeException ex) {
				logger.warn("A step listener failed; the step goes on", ex);
			}
		}
	}

	/**
	 * Tells {@code listener} the name of each step of this process's life as it starts (the
	 * takeover's steps, such as {@code warm-up} or {@code overlap}, and {@code drain}), and
	 * {@code null} when it ends.
	 */
	void onStep(Consumer<@Nullable String> listener) {
		this.stepListeners.add(listener);
	}

	KeepAlive keepAlive() {
		return this.keepAlive;
	}

	InFlightRequests requests() {
		return this.requests;
	}

	Intake intake() {
		return this.intake;
	}

	void participate(DrainParticipant participant) {
		this.drainParticipants.add(participant);
	}

	List<DrainParticipant> drainParticipants() {
		return List.copyOf(this.drainParticipants);
	}

	void onUpgrade(Consumer<UpgradeRecord> listener) {
		this.upgradeListeners.add(listener);
	}

	/** Told the trigger of each upgrade that started a new process, before its outcome. */
	void onUpgradeStarted(Consumer<String> listener) {
		this.upgradeStartListeners.add(listener);
	}

	synchronized List<UpgradeRecord> history() {
		return List.copyOf(this.history);
	}

	// ---- STARTING: the application started; the before-ready steps, then ready or exit 1

	/**
	 * The application started: takes the upgrade signal (a signal before ready is refused),
	 * runs the before-ready steps on a thread of their own (they may take seconds, and
	 * the other listeners of the application's ready event should not wait for them), then tells
	 * tableflip this process is ready, or exits with status 1.
	 */
	public void started(Application application) {
		this.application = application;
		// before the before-ready steps, which may take minutes: a signal meanwhile is refused, not fatal
		boolean bySignal = application.upgradeSignal() != null
				&& UpgradeSignal.upgradeWith(application.upgradeSignal(), () -> upgradeAsync("signal"));
		Thread becomeReady = new Thread(() -> becomeReady(application, bySignal), "tableflip-takeover");
		becomeReady.setDaemon(true);
		becomeReady.start();
	}

	private void becomeReady(Application application, boolean bySignal) {
		try {
			application.takeover().runBeforeReady(this::step);
			ready();
		}
		catch (TakeoverFailedException | IOException | RuntimeException ex) {
			giveUp(application, ex);
			return;
		}
		if (bySignal) {
			UpgradeSignal.announce(application.upgradeSignal());
		}
	}

	/** Completes when this process told tableflip (and its parent, if any) that it serves. */
	public CompletableFuture<Void> whenReady() {
		return this.ready.copy();
	}

	/** Tells tableflip (and the parent, if any) that this process serves. */
	void ready() throws IOException {
		this.upgrader.ready();
		move(State.READY, State.STARTING);
		this.ready.complete(null);
	}

	/**
	 * This process will not serve: it exits with status 1, whatever the threads left after the
	 * context closed would make of it (a JVM whose last non-daemon thread ends exits 0).
	 */
	private void giveUp(Application application, Exception ex) {
		move(State.STOPPED, State.STARTING);
		String parent = !this.upgrader.hasParent() ? ""
				: parentAlive() ? "; the old process keeps serving"
						: "; the old process has exited, so nothing serves on its listeners";
		logger.error("Process " + pid() + " will not serve: " + ex.getMessage() + parent + "; exiting with status 1",
				ex);
		Thread exit = new Thread(() -> {
			try {
				SpringApplication.exit(application.context());
			}
			finally {
				System.exit(1);
			}
		}, "tableflip-exit");
		exit.setDaemon(false); // the JVM waits for it (a thread inherits its creator's daemon flag)
		exit.start();
	}

	boolean parentAlive() {
		if (!this.upgrader.hasParent()) {
			return false;
		}
		try {
			this.upgrader.waitForParent(Duration.ZERO);
			return false;
		}
		catch (TimeoutException ex) {
			return true;
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return true;
		}
	}

	// ---- READY -> UPGRADING -> PROBATION or READY

	/** Starts an upgrade; the future completes with its record once the new process is ready or failed. */
	CompletableFuture<UpgradeRecord> upgradeAsync(String trigger) {
		Instant startedAt = Instant.now();
		long started = System.nanoTime();
		CompletableFuture<Long> upgrade;
		boolean spawned;
		synchronized (this) {
			if (this.state == State.STOPPED || this.state == State.DRAINING) {
				upgrade = CompletableFuture.failedFuture(new UpgradeException(Reason.STOPPED,
						"process " + pid() + " is " + this.state.name().toLowerCase()));
			}
			else {
				upgrade = this.upgrader.upgradeAsync(trigger);
			}
			spawned = !upgrade.isDone(); // refusals fail at once and change nothing
			if (spawned) {
				move(State.UPGRADING, State.READY);
				logger.info("Upgrade triggered by " + trigger + ": started a new process");
			}
		}
		if (spawned) {
			this.upgradeStartListeners.forEach((listener) -> listener.accept(trigger));
		}
		return upgrade.handle((childPid, failure) -> {
			Duration duration = Duration.ofNanos(System.nanoTime() - started);
			UpgradeRecord record;
			if (failure == null) {
				record = new UpgradeRecord(startedAt, trigger, Outcome.SUCCEEDED, null,
						"new process " + childPid + " is ready", childPid, null, duration);
				logger.info("Upgrade succeeded: new process " + childPid + " is ready after " + duration.toMillis()
						+ " ms; process " + pid() + " serves beside it until its probation ends, then drains");
				remember(record);
				if (move(State.PROBATION, State.UPGRADING)) {
					startHandOver();
				}
			}
			else {
				record = failed(startedAt, trigger, duration, unwrap(failure));
				synchronized (this) { // ready again and the failure in the history: one step
					if (spawned) {
						move(State.READY, State.UPGRADING);
					}
					addToHistory(record);
				}
				notifyUpgradeListeners(record);
			}
			return record;
		});
	}

	private UpgradeRecord failed(Instant startedAt, String trigger, Duration duration, UpgradeException failure) {
		Outcome outcome = failure.refused() ? Outcome.REFUSED : Outcome.FAILED;
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
		addToHistory(record);
		notifyUpgradeListeners(record);
	}

	private synchronized void addToHistory(UpgradeRecord record) {
		this.history.addLast(record);
		while (this.history.size() > HISTORY_SIZE) {
			this.history.removeFirst();
		}
	}

	private void notifyUpgradeListeners(UpgradeRecord record) {
		for (Consumer<UpgradeRecord> listener : this.upgradeListeners) {
			listener.accept(record);
		}
	}

	// ---- PROBATION: the hand-over, then the drain; or a rollback

	private void startHandOver() {
		Application application = this.application;
		Thread handOver = new Thread(() -> {
			if (application != null) {
				application.takeover().runAfterReady(this::step);
			}
			try {
				this.upgrader.exit().get(); // the new process passed its probation
			}
			catch (InterruptedException ex) {
				return; // rolled back
			}
			catch (ExecutionException ex) {
				logger.error("Waiting for the end of the probation failed; draining now", ex);
			}
			handedOver(application);
		}, "tableflip-handover");
		handOver.setDaemon(true);
		this.handOver = handOver;
		handOver.start();
	}

	/**
	 * The new process died or gave up during its probation; the core made this process ready
	 * again. Keep-alive is kept from now on, and the hand-over stops.
	 */
	private void rolledBack(UpgradeException lost) {
		Long childPid = lost.childPid().isPresent() ? lost.childPid().getAsLong() : null;
		Integer exitCode = lost.exitCode().isPresent() ? lost.exitCode().getAsInt() : null;
		UpgradeRecord record = new UpgradeRecord(Instant.now(), "probation", Outcome.ROLLED_BACK, lost.reason(),
				lost.getMessage(), childPid, exitCode, Duration.ZERO);
		synchronized (this) {
			// One step: whoever sees this process ready again sees the rollback in its history.
			if (!move(State.READY, State.PROBATION)) {
				return;
			}
			addToHistory(record);
		}
		Thread handOver = this.handOver;
		if (handOver != null) {
			handOver.interrupt();
		}
		this.keepAlive.keep();
		this.intake.settle(); // alone again: accept all the time
		logger.warn("Upgrade rolled back (" + lost.reason() + "): " + lost.getMessage() + "; process " + pid()
				+ " serves alone again and can be upgraded");
		notifyUpgradeListeners(record);
	}

	// ---- DRAINING: stop accepting, grace, graceful shutdown, exit

	private void handedOver(@Nullable Application application) {
		if (!move(State.DRAINING, State.PROBATION)) {
			return; // stopped meanwhile: the application shuts down anyway
		}
		if (application == null) {
			stopAccepting(); // not a Spring application's life: nothing more to do here
			return;
		}
		Thread deadline = new Thread(() -> enforceDeadline(application.exitTimeout()), "tableflip-exit-deadline");
		deadline.setDaemon(true);
		deadline.start();
		Thread drain = new Thread(() -> drain(application), "tableflip-drain");
		drain.setDaemon(false); // the JVM waits for it (a thread inherits its creator's daemon flag)
		drain.start();
	}

	/**
	 * Leaves after a successful upgrade losing no request: keep-alive ends on every response,
	 * this process's copy of each listener is closed while its servers still run (nothing
	 * accepted is dropped, the new process accepts everything after), WebSocket sessions are
	 * closed one after another and the application's long-lived work is ended
	 * ({@link DrainListener}), a grace period lets idle keep-alive clients send their next
	 * request and be told to reconnect, the WebSocket sessions opened meanwhile are closed, and
	 * only then Spring's graceful shutdown finishes the requests in flight. From the moment
	 * nothing is in flight (after the grace, or else after the graceful shutdown), the rest of
	 * the exit runs at the new processes' start priority ({@code Upgrader.exiting()}).
	 */
	private void drain(Application application) {
		long started = System.nanoTime();
		int exitCode = 1;
		boolean exiting = false;
		try {
			logger.info("Draining process " + pid() + ": no new connections, keep-alive ends");
			step("drain");
			stopAccepting();
			closeWebSockets(application.webSocketCloseWindow(),
					application.exitTimeout().minusNanos(System.nanoTime() - started));
			tellDrainListeners(application, application.exitTimeout().minusNanos(System.nanoTime() - started));
			logger.info("Process " + pid() + " stopped accepting; graceful shutdown in "
					+ application.drainGrace().toMillis() + " ms");
			Thread.sleep(application.drainGrace().toMillis());
			closeLateWebSockets();
			step(null); // what is left is Spring's graceful shutdown
			if (this.requests.count() == 0) {
				this.upgrader.exiting(); // nothing in flight: closing the application takes the CPU the new process leaves
				exiting = true;
			}
			exitCode = SpringApplication.exit(application.context());
			Duration took = Duration.ofNanos(System.nanoTime() - started);
			application.drained().accept(took);
			logger.info("Process " + pid() + " drained in " + took.toMillis() + " ms; exiting");
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
		catch (RuntimeException ex) {
			logger.error("Draining failed; exiting anyway", ex);
		}
		if (!exiting) {
			this.upgrader.exiting(); // nothing left to serve: the exit takes the CPU the new process leaves
		}
		System.exit(exitCode);
	}

	/**
	 * Every WebSocket session the servers hold is closed with 1001 (going away), one after
	 * another over the window (never more than a quarter of the time left before the exit
	 * deadline), so that the clients reconnect to the new process in a trickle, not in one
	 * stampede; the servers would close them all at once when they stop.
	 */
	private void closeWebSockets(Duration window, Duration timeLeft) throws InterruptedException {
		List<Runnable> sessions = openWebSockets();
		if (sessions.isEmpty()) {
			return;
		}
		Duration spread = (window.compareTo(timeLeft.dividedBy(4)) < 0) ? window : timeLeft.dividedBy(4);
		logger.info("Closing " + sessions.size() + " WebSocket session(s) with 1001 (going away) over "
				+ spread.toMillis() + " ms (tableflip.websocket-close-window)");
		long pause = spread.toNanos() / sessions.size();
		for (Runnable session : sessions) {
			close(session);
			TimeUnit.NANOSECONDS.sleep(pause);
		}
	}

	/**
	 * The WebSocket sessions whose handshake was still under way when the drain listed them are
	 * closed with 1001 too, at once, before the servers stop. Reactor Netty's graceful shutdown
	 * waited for such a session until its timeout and then closed it with a close frame without
	 * a status (1005).
	 */
	private void closeLateWebSockets() {
		List<Runnable> sessions = openWebSockets();
		if (sessions.isEmpty()) {
			return;
		}
		logger.info("Closing " + sessions.size() + " WebSocket session(s) opened while the drain began, with 1001 "
				+ "(going away)");
		sessions.forEach(ProcessLife::close);
	}

	/** The WebSocket sessions of every server that it did not list before, each as the action that closes it. */
	private List<Runnable> openWebSockets() {
		return this.drainParticipants.stream().flatMap((participant) -> participant.openWebSockets().stream()).toList();
	}

	private static void close(Runnable webSocket) {
		try {
			webSocket.run();
		}
		catch (RuntimeException ex) {
			logger.warn("Cannot close a WebSocket session; the server closes it when it stops: " + ex);
		}
	}

	/** Long-lived work ends now, while the servers still run: its clients reconnect to the new process. */
	private void tellDrainListeners(Application application, Duration timeLeft) {
		application.context().getBeanProvider(DrainListener.class).orderedStream().forEach((listener) -> {
			try {
				listener.draining(timeLeft);
			}
			catch (RuntimeException ex) {
				logger.error("Drain listener " + listener + " failed; draining on", ex);
			}
		});
	}

	private void enforceDeadline(Duration exitTimeout) {
		try {
			Thread.sleep(exitTimeout.toMillis());
		}
		catch (InterruptedException ex) {
			return;
		}
		logger.error("Process " + pid() + " did not finish draining within " + exitTimeout
				+ " (tableflip.exit-timeout); exiting now" + ((this.requests.count() > 0)
						? ", cutting " + this.requests.count() + " request(s) still running: " + this.requests.describe()
						: ""));
		Runtime.getRuntime().halt(1);
	}

	/**
	 * The intake closes, keep-alive ends, every server stops accepting, and this process's copy
	 * of each listener is closed while the servers still run (nothing accepted is dropped).
	 */
	private void stopAccepting() {
		this.intake.close();
		this.keepAlive.end();
		this.drainParticipants.forEach(DrainParticipant::stopAccepting);
		this.upgrader.fds().closeListeners();
	}

	// ---- stop: a shutdown without an upgrade

	/**
	 * A shutdown without an upgrade ({@code SIGTERM}, {@code systemctl stop}): if this process
	 * serves, it stops accepting the way a drain does, before the servers' graceful shutdown
	 * pauses them, so that connections already accepted are served rather than dropped, and
	 * connections still in the listener's queue stay there for whoever else holds it (systemd
	 * with socket activation, or a new process on probation, which serves on).
	 * @return whether this process was serving and now stopped accepting; the caller then gives
	 * accepted connections the drain's grace period
	 */
	public boolean stop() {
		boolean serving = move(State.STOPPED, State.READY, State.PROBATION);
		if (serving) {
			Thread handOver = this.handOver;
			if (handOver != null) {
				handOver.interrupt();
			}
			stopAccepting();
			return true;
		}
		move(State.STOPPED, State.STARTING, State.UPGRADING);
		return false;
	}

	private static long pid() {
		return ProcessHandle.current().pid();
	}

}
