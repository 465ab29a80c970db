package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * When this process's servers may accept from the listeners. A process started by hand
 * accepts at once. A process started by an upgrade accepts nothing until it is ready, so that a
 * new version that fails after its server started has taken no connection with it.
 * <p>
 * During the overlap the two processes take turns within every 100 ms: the new one accepts
 * during the last {@code elapsed / overlap} of it, the old one during the rest. The slots are
 * the same in both processes ({@link System#nanoTime()} is the machine's monotonic clock), so
 * the share of new connections each process takes is set by the clock, not by which of them
 * wakes first: the old, warm process's busy event loops would otherwise mostly win over a new
 * process's idle one (on Reactor Netty both processes' selectors are woken for each
 * connection; under load a test saw the new process take none of its probes). The old process
 * learns that the new one is ready a moment after it is, so their turns overlap by that moment
 * rather than leave a gap. After the overlap both accept all the time, until the old process
 * drains.
 */
public final class Intake {

	private static final long SLOT_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

	/** How this process takes turns with the other one: the new process's, the old one's, or not at all. */
	private enum Turn {

		/** The last {@code elapsed / ramp} of each slot. */
		NEW,

		/** The first {@code 1 - elapsed / ramp} of each slot. */
		OLD

	}

	private final CompletableFuture<Void> ready;

	private final LongSupplier clock;

	private final List<Runnable> unsettled = new CopyOnWriteArrayList<>();

	private volatile Turn turn = Turn.NEW;

	private volatile long rampNanos;

	private volatile long rampStart;

	private volatile boolean rampStarted;

	private volatile boolean settled;

	private volatile boolean closed;

	Intake(CompletableFuture<Void> ready, boolean hasParent) {
		this(ready, hasParent, System::nanoTime);
	}

	Intake(CompletableFuture<Void> ready, boolean hasParent, LongSupplier clock) {
		this.ready = ready;
		this.clock = clock;
		this.settled = !hasParent;
	}

	/** In a new process: from the moment it is ready, accept for a growing part of each slot, all of it after {@code over}. */
	void rampUpOver(Duration over) {
		if (this.settled || over.isZero()) {
			return;
		}
		this.rampNanos = over.toNanos();
		this.ready.thenRun(() -> {
			this.rampStart = this.clock.getAsLong();
			this.rampStarted = true;
		});
	}

	/**
	 * In the old process, as its overlap begins: leave the new process its growing part of each
	 * slot, and accept all the time again after {@code over} (or on {@link #settle()}).
	 */
	void yieldOver(Duration over) {
		if (over.isZero() || this.closed) {
			return;
		}
		this.rampNanos = over.toNanos();
		this.rampStart = this.clock.getAsLong();
		this.rampStarted = true;
		this.turn = Turn.OLD;
		this.settled = false; // last: a server that sees it unsettled sees the turn and the ramp too
		this.unsettled.forEach(Runnable::run);
	}

	/**
	 * Runs {@code action} whenever the intake stops accepting all the time while it runs (the
	 * old process's overlap), so that a server that does not ask before each accept (an event
	 * loop) follows it again.
	 */
	public void onUnsettled(Runnable action) {
		this.unsettled.add(action);
	}

	/**
	 * How long a server should wait before it accepts again: 0 to accept now. Before the
	 * process is ready, a short while after which to ask again.
	 */
	public long closedForNanos() {
		long turn = turn();
		return (turn < 0) ? -turn : 0;
	}

	/**
	 * While this process may accept: how long its turn lasts from now ({@link Long#MAX_VALUE} if
	 * it accepts all the time), so that a server that turns accepting on and off (an event loop)
	 * turns it off on time; 0 if it may not accept now.
	 */
	public long openForNanos() {
		long turn = turn();
		return (turn > 0) ? turn : 0;
	}

	/** Positive: open for that long; negative: closed for that long. */
	private long turn() {
		if (this.settled) {
			return Long.MAX_VALUE;
		}
		if (!this.ready.isDone()) {
			return -SLOT_NANOS;
		}
		long now = this.clock.getAsLong();
		long ramp = this.rampNanos;
		long elapsed = this.rampStarted ? now - this.rampStart : 0; // ready, but the ramp's start not yet noted
		if (ramp == 0 || elapsed >= ramp) {
			this.settled = true;
			return Long.MAX_VALUE;
		}
		long newTurnStarts = (long) (SLOT_NANOS * (1 - (double) elapsed / ramp));
		long inSlot = Math.floorMod(now, SLOT_NANOS);
		if (inSlot >= newTurnStarts) { // the new process's turn, until the slot ends
			return (this.turn == Turn.NEW) ? SLOT_NANOS - inSlot : -(SLOT_NANOS - inSlot);
		}
		// The old process's turn, until the moment the new one's begins: it comes earlier as time goes by.
		long untilNewTurn = Math.max(1, (long) Math.ceil((newTurnStarts - inSlot) / (1 + (double) SLOT_NANOS / ramp)));
		return (this.turn == Turn.NEW) ? -untilNewTurn : untilNewTurn;
	}

	/** The other process is gone, or it rolled back: this process accepts all the time from now on. */
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

	/** Whether the servers accept all the time from now on (until the old process's overlap, if any). */
	public boolean isSettled() {
		if (!this.settled) {
			closedForNanos();
		}
		return this.settled;
	}

}
