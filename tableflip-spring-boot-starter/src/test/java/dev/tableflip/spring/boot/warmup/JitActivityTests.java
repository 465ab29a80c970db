package dev.tableflip.spring.boot.warmup;

import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** When the JIT counts as idle: no compiling over a window of time and of requests. */
class JitActivityTests {

	private final AtomicLong compiledMillis = new AtomicLong(5_000);

	private final AtomicLong answered = new AtomicLong();

	private final JitActivity jit = new JitActivity(this.compiledMillis::get, this.answered::get);

	@Test
	void idleAfterAWholeWindowOfTimeAndRequestsWithoutCompiling() {
		for (int i = 0; i < JitActivity.WINDOW_MILLIS / JitActivity.SAMPLE_MILLIS; i++) {
			assertThat(this.jit.idle()).as("not before a whole window of samples (%d)", i).isFalse();
			this.answered.addAndGet(2_000);
			assertThat(this.jit.sleepAndSample()).isTrue();
		}
		assertThat(this.jit.idle()).as(this.jit.describe()).isTrue();
		this.compiledMillis.addAndGet(JitActivity.IDLE_MILLIS + 1);
		this.answered.addAndGet(2_000);
		this.jit.sleepAndSample();
		assertThat(this.jit.idle()).as("compiling again: " + this.jit.describe()).isFalse();
	}

	@Test
	void aFewRequestsASecondAreNotEnoughToCallTheJitIdle() {
		// a slow warm-up: 1,000 requests a sample, so 8,000 in a window of time; 10,000 needed
		int samples = 0;
		while (!this.jit.idle()) {
			this.answered.addAndGet(1_000);
			this.jit.sleepAndSample();
			samples++;
			assertThat(samples).as(this.jit.describe()).isLessThanOrEqualTo(10);
		}
		assertThat(samples).as("the window grew until it held " + JitActivity.WINDOW_WORK + " requests")
			.isEqualTo(10);
		assertThat(this.jit.describe()).contains("10000 requests");
	}

	@Test
	void aLongerWindowAllowsAsMuchCompilingPerSecond() {
		// 2.5 s to reach 10,000 requests: 25 ms of compiling is 1 % of it
		for (int i = 0; i < 10; i++) {
			this.answered.addAndGet(1_000);
			this.compiledMillis.addAndGet((i == 5) ? 25 : 0);
			this.jit.sleepAndSample();
		}
		assertThat(this.jit.idle()).as(this.jit.describe()).isTrue();
		this.compiledMillis.addAndGet(1);
		this.answered.addAndGet(1_000);
		this.jit.sleepAndSample(); // the window drops its oldest sample and keeps 26 ms in 2.5 s
		assertThat(this.jit.idle()).as(this.jit.describe()).isFalse();
	}

}
