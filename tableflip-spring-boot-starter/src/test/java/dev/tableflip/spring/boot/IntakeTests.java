package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The turns the old and the new process take during the overlap, on one clock (the machine's
 * monotonic clock in both processes; a settable one here).
 */
class IntakeTests {

	private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

	/** Some moment of the monotonic clock, not at a slot's start. */
	private final AtomicLong now = new AtomicLong(7_777_777_123_456L);

	private final CompletableFuture<Void> newReady = new CompletableFuture<>();

	private final Intake newProcess = new Intake(this.newReady, true, this.now::get);

	private final Intake oldProcess = new Intake(CompletableFuture.completedFuture(null), false, this.now::get);

	@Test
	void aNewProcessAcceptsNothingUntilItIsReadyAndTheOldOneAcceptsAllTheTime() {
		this.newProcess.rampUpOver(Duration.ofSeconds(1));
		for (int i = 0; i < 300; i++) {
			assertThat(this.newProcess.closedForNanos()).isPositive();
			assertThat(this.oldProcess.closedForNanos()).isZero();
			this.now.addAndGet(MS);
		}
		assertThat(this.newProcess.isSettled()).isFalse();
		assertThat(this.oldProcess.isSettled()).isTrue();
	}

	@Test
	void duringTheOverlapExactlyOneProcessAcceptsAtEachMomentAndTheNewOnesShareGrows() {
		this.newProcess.rampUpOver(Duration.ofSeconds(1));
		this.newReady.complete(null);
		this.oldProcess.yieldOver(Duration.ofSeconds(1)); // the same moment: no lag between the two
		int[] newShare = new int[10];
		for (int ms = 0; ms < 1000; ms++) {
			boolean newAccepts = this.newProcess.closedForNanos() == 0;
			boolean oldAccepts = this.oldProcess.closedForNanos() == 0;
			assertThat(newAccepts).as("at %d ms, exactly one of them accepts", ms).isNotEqualTo(oldAccepts);
			if (newAccepts) {
				newShare[ms / 100]++;
			}
			this.now.addAndGet(MS);
		}
		for (int tenth = 1; tenth < 10; tenth++) {
			assertThat(newShare[tenth]).as("the new process's share grows: %s", java.util.Arrays.toString(newShare))
				.isGreaterThanOrEqualTo(newShare[tenth - 1]);
		}
		assertThat(newShare[0]).isLessThanOrEqualTo(10);
		assertThat(newShare[9]).isGreaterThanOrEqualTo(85);
		// after the overlap, both accept all the time
		assertThat(this.newProcess.closedForNanos()).isZero();
		assertThat(this.oldProcess.closedForNanos()).isZero();
		assertThat(this.newProcess.isSettled()).isTrue();
		assertThat(this.oldProcess.isSettled()).isTrue();
	}

	@Test
	void theOldProcessLearningOfReadyLaterMakesTheTurnsOverlapNeverLeaveAGap() {
		this.newProcess.rampUpOver(Duration.ofSeconds(1));
		this.newReady.complete(null);
		this.now.addAndGet(30 * MS);
		this.oldProcess.yieldOver(Duration.ofSeconds(1));
		for (int ms = 0; ms < 1000; ms++) {
			assertThat(this.newProcess.closedForNanos() == 0 || this.oldProcess.closedForNanos() == 0)
				.as("at %d ms one of them accepts", ms)
				.isTrue();
			this.now.addAndGet(MS);
		}
	}

	@Test
	void aWaitEndsWhenTheTurnChanges() {
		this.oldProcess.yieldOver(Duration.ofSeconds(1));
		this.now.addAndGet(500 * MS); // half way: the new process has the second half of each slot
		long closed = this.oldProcess.closedForNanos();
		if (closed > 0) {
			this.now.addAndGet(closed);
			assertThat(this.oldProcess.closedForNanos()).as("the old process's turn again").isZero();
		}
	}

	@Test
	void aTurnLastsAsLongAsTheIntakeSays() {
		this.newProcess.rampUpOver(Duration.ofSeconds(1));
		this.newReady.complete(null);
		this.oldProcess.yieldOver(Duration.ofSeconds(1));
		long started = this.now.get();
		for (Intake intake : new Intake[] { this.oldProcess, this.newProcess }) {
			this.now.set(started + 300 * MS);
			for (int i = 0; i < 6; i++) { // turns of at most 100 ms: within the overlap
				long open = intake.openForNanos();
				long closed = intake.closedForNanos();
				assertThat(open == 0).as("open or closed, not both").isNotEqualTo(closed == 0);
				assertThat(Math.max(open, closed)).isLessThanOrEqualTo(100 * MS);
				// to the microsecond: the boundary moves as the new process's share grows
				long span = Math.max(open, closed);
				if (span > 2000) {
					this.now.addAndGet(span - 1000);
					assertThat(intake.openForNanos() > 0).as("the same turn until its end (%d ns)", span)
						.isEqualTo(open > 0);
					this.now.addAndGet(2000);
				}
				else {
					this.now.addAndGet(span + 1000);
				}
				assertThat(intake.openForNanos() > 0).as("the other turn from then on").isEqualTo(open == 0);
			}
		}
		assertThat(this.oldProcess.isSettled()).isFalse();
		this.oldProcess.settle();
		assertThat(this.oldProcess.openForNanos()).isEqualTo(Long.MAX_VALUE);
	}

	@Test
	void aRollbackOrTheOtherProcessExitingLetsTheOldProcessAcceptAllTheTimeAgain() {
		AtomicInteger followers = new AtomicInteger();
		this.oldProcess.onUnsettled(followers::incrementAndGet);
		this.oldProcess.yieldOver(Duration.ofSeconds(5));
		assertThat(followers).as("an event loop is told to follow the turns").hasValue(1);
		assertThat(this.oldProcess.isSettled()).isFalse();
		this.oldProcess.settle();
		for (int ms = 0; ms < 200; ms++) {
			assertThat(this.oldProcess.closedForNanos()).isZero();
			this.now.addAndGet(MS);
		}
	}

	@Test
	void aDrainingProcessDoesNotTakeTurns() {
		AtomicInteger followers = new AtomicInteger();
		this.oldProcess.onUnsettled(followers::incrementAndGet);
		this.oldProcess.close();
		this.oldProcess.yieldOver(Duration.ofSeconds(5));
		assertThat(followers).hasValue(0);
		assertThat(this.oldProcess.isClosed()).isTrue();
	}

	@Test
	void noOverlapNoTurns() {
		this.oldProcess.yieldOver(Duration.ZERO);
		assertThat(this.oldProcess.isSettled()).isTrue();
		this.newProcess.rampUpOver(Duration.ZERO);
		this.newReady.complete(null);
		assertThat(this.newProcess.closedForNanos()).isZero();
	}

}
