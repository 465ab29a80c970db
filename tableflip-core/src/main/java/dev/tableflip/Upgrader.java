package dev.tableflip;

import java.io.IOException;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Zero-downtime upgrades for a JVM process, after Go's {@code cloudflare/tableflip}.
 *
 * <p>A process creates one upgrader, takes its sockets from {@link #fds()}, and calls
 * {@link #ready()} once it serves. {@link #upgrade()} then starts a new copy of the process,
 * hands it those sockets, and returns once the copy called {@code ready()} itself; from then
 * on both accept from the same sockets, and {@link #exit()} tells the old process to stop
 * accepting, finish its requests and exit. If the new process crashes or hangs, the upgrade
 * fails and the old process carries on as if nothing happened.
 *
 * <pre>{@code
 * Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults().withPidFile(Path.of("app.pid")));
 * ServerSocketChannel listener = upgrader.fds().listen("tcp", ":8080");
 * // start serving on listener ...
 * upgrader.ready();
 * // on SIGHUP: upgrader.upgrade();
 * upgrader.exit().join();
 * // stop accepting, drain, exit
 * }</pre>
 */
public interface Upgrader {

	/**
	 * Creates this process's upgrader, taking over the descriptors of the parent process if
	 * this process was started by an upgrade. There is one live upgrader per process: a second
	 * call fails until the first one is {@link #stop() stopped}.
	 * @throws IOException if the handoff from the parent failed
	 * @throws IllegalStateException if an upgrader is live, or the JVM lacks the option that
	 * opens {@code java.base/sun.nio.ch} (the message says which)
	 * @throws UnsupportedOperationException on any operating system but Linux (descriptor passing
	 * and the peer check it needs); use {@link #stub()} there
	 */
	static Upgrader create(UpgraderOptions options) throws IOException {
		return ProcessUpgrader.create(options);
	}

	/**
	 * An upgrader that binds sockets itself and never upgrades, for tests and platforms
	 * without descriptor passing. Any number may exist.
	 */
	static Upgrader stub() {
		return new StubUpgrader(ListenConfig.defaults());
	}

	/** The registry of inherited and used sockets and files. */
	Fds fds();

	/**
	 * Signals that this process serves: closes inherited descriptors nobody asked for, writes
	 * the PID file and tells the parent, whose {@code upgrade()} then returns. Further calls do
	 * nothing.
	 * @throws IOException if the PID file cannot be written or the parent cannot be told
	 */
	void ready() throws IOException;

	/**
	 * The opposite of {@link #ready()}: this process will not serve, for example because its
	 * warm-up or a health check failed. Tells the parent why; its upgrade fails with
	 * {@link UpgradeException.Reason#CHILD_FAILED CHILD_FAILED} and that reason, and it keeps
	 * serving. The caller should exit next. Does nothing without a parent or after
	 * {@code ready()}.
	 * @param reason what went wrong, for the parent's log and status
	 * @throws IOException if the parent cannot be told
	 */
	void fail(String reason) throws IOException;

	/**
	 * Starts a new process, hands it every descriptor in use and blocks until it is ready.
	 * The new process's {@link #lineage()} gives {@code api} as its cause.
	 * @return the pid of the new process
	 * @throws UpgradeException if it did not become ready; its reason says why
	 */
	default long upgrade() throws UpgradeException {
		return upgrade("api");
	}

	/**
	 * Like {@link #upgrade()}, for a cause that the new process's {@link #lineage()} tells
	 * ({@code signal}, {@code endpoint}...).
	 */
	long upgrade(String cause) throws UpgradeException;

	/**
	 * Like {@link #upgrade()}, without blocking: the future completes with the new process's
	 * pid, or fails with an {@link UpgradeException} (refusals fail it at once).
	 */
	default CompletableFuture<Long> upgradeAsync() {
		return upgradeAsync("api");
	}

	/** Like {@link #upgradeAsync()}, for a cause that the new process's {@link #lineage()} tells. */
	CompletableFuture<Long> upgradeAsync(String cause);

	/**
	 * Completes when this process should exit: after a successful upgrade (once the new process
	 * passed its probation, if there is one) or {@link #stop()}.
	 * Completing the returned future does not affect the upgrader.
	 */
	CompletableFuture<Void> exit();

	/**
	 * Tells the upgrader that this process, replaced by a new one, has no request in flight and
	 * takes no more (its listeners closed, its connections told to close): what is left is its
	 * exit. If new processes start at a lower CPU priority
	 * ({@link UpgraderOptions#withStartNice}), every thread of this process moves to that
	 * priority, so that what is left of its exit (closing the application, the JVM's exit, the
	 * kernel freeing its memory) takes the CPU the new process leaves rather than a share of it;
	 * and the short time slices it served with beside the new process go back to the kernel's
	 * default. Does nothing in a process that has not handed over: one whose upgrader was stopped
	 * exits at its priority.
	 */
	default void exiting() {
	}

	/**
	 * Calls {@code listener} when a new process that was ready exits, or reports that it will
	 * not serve, during its probation ({@link UpgraderOptions#withProbation}): this process is
	 * ready again and serves alone, {@link #exit()} has not completed, and a later upgrade may
	 * be tried. The exception's reason is {@link UpgradeException.Reason#PROBATION_FAILED}; its
	 * message says what happened. Called on a thread of the upgrader, outside its lock.
	 */
	void onRollback(Consumer<UpgradeException> listener);

	/**
	 * Prevents further upgrades. A new process that is not ready yet is killed, and is gone
	 * before {@link #exit()} completes; one that is ready and on probation is handed the
	 * service at once. If no upgrade succeeded, this process is taken to be shutting down for
	 * good: the files of its UNIX listeners are removed.
	 */
	void stop();

	/** Whether this process was started by an upgrade. */
	boolean hasParent();

	/** The pid of the process that started this one by an upgrade, if any. */
	OptionalLong parentPid();

	/**
	 * Blocks until the parent process exited; returns at once without a parent.
	 * @throws TimeoutException if it is still running after {@code timeout}
	 * @throws InterruptedException if the waiting thread is interrupted
	 */
	void waitForParent(Duration timeout) throws TimeoutException, InterruptedException;

	/** 1 for a process started by hand, one more than its parent's for one started by an upgrade. */
	int generation();

	/**
	 * The story so far: this process's generation, when and why it was started, and the
	 * upgrades of this process and all its ancestors, carried across every handoff.
	 */
	Lineage lineage();

}
