package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * When this process's servers may accept from the listeners. A process started by hand
 * accepts at once. A process started by an upgrade accepts nothing until it is ready, so that a
 * new version that fails after its server started has taken no connection with it; then, while
 * the old process still accepts beside it (the overlap), for a growing part of the time: the
 * last {@code elapsed / overlap} of every 100 ms. Connections that arrive meanwhile go to the
 * old, warm process; the new process's share grows as its JIT warms up. After the overlap it
 * accepts all the time.
 */
public final class Intake {

	private static final long SLOT_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

	private final CompletableFuture<Void> ready;

	private volatile long rampNanos;

	private volatile long rampStart;

	private volatile boolean settled;

	private volatile boolean closed;

	Intake(CompletableFuture<Void> ready, boolean hasParent) {
		this.ready = ready;
		this.settled = !hasParent;
	}

	/** From the moment this process is ready, accept for a growing part of the time, all of it after {@code over}. */
	void rampUpOver(Duration over) {
		if (this.settled || over.isZero()) {
			return;
		}
		this.rampNanos = over.toNanos();
		this.ready.thenRun(() -> this.rampStart = System.nanoTime());
	}

	/**
	 * How long a server should wait before it accepts again: 0 to accept now. Before the
	 * process is ready, a short while after which to ask again.
	 */
	public long closedForNanos() {
		if (this.settled) {
			return 0;
		}
		if (!this.ready.isDone()) {
			return SLOT_NANOS;
		}
		long ramp = this.rampNanos;
		long elapsed = System.nanoTime() - this.rampStart;
		if (ramp == 0 || elapsed >= ramp) {
			this.settled = true;
			return 0;
		}
		long closed = (long) (SLOT_NANOS * (1 - (double) elapsed / ramp));
		long inSlot = elapsed % SLOT_NANOS;
		return (inSlot < closed) ? closed - inSlot : 0;
	}

	/** The old process is gone: nobody else accepts, so this process accepts all the time from now on. */
	void settle() {
		this.settled = true;
	}

	/** This process drains: its servers stop accepting, and the intake must not start them again. */
	void close() {
		this.closed = true;
	}

	/** Whether this process no longer accepts at all: it drains. */
	public boolean isClosed() {
		return this.closed;
	}

	/** Whether the servers accept all the time from now on. */
	public boolean isSettled() {
		if (!this.settled) {
			closedForNanos();
		}
		return this.settled;
	}

}
