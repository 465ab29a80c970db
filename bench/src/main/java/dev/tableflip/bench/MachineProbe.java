package dev.tableflip.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How fast and how steady this machine's CPUs are at the moment, read while nothing else of the
 * benchmark runs: a latency measured in milliseconds means little on a virtual machine whose
 * host takes its CPUs away now and then, or runs them slower than an hour before (seen on this
 * project's machines: the same loop 20 % slower within half an hour, a steady p99 ten times that
 * of another machine of the same kind a few hours earlier). Two readings:
 * <ul>
 * <li>the time a fixed loop of integer arithmetic takes on one thread (the fastest of several
 * runs, after the JIT has compiled it): the CPU's speed;</li>
 * <li>one thread per CPU, each reading the clock as fast as it can for a while: the longest gap
 * between two readings, and all gaps over 0.5 ms added up. On an idle machine nothing but the
 * host (or the kernel's own work) makes such a gap.</li>
 * </ul>
 */
final class MachineProbe {

	private static final long SPIN_NANOS = 2_000_000_000L;

	private static final long STALL_NANOS = 500_000;

	/** Keeps the loop's result, so that the JIT cannot drop the loop. */
	private static final AtomicLong sink = new AtomicLong();

	private MachineProbe() {
	}

	/** A reading: the fixed loop's time, the longest stall of any spinning thread, and all their stalls added up (ms). */
	record Reading(double loopMs, double longestStallMs, double stalledMs) {

		@Override
		public String toString() {
			return String.format("a fixed loop %.0f ms; spinning on every CPU for %d s, longest stall %.1f ms, "
					+ "%.0f ms stalled in all", this.loopMs, SPIN_NANOS / 1_000_000_000L, this.longestStallMs,
					this.stalledMs);
		}

	}

	static Reading read() throws InterruptedException {
		long fastest = Long.MAX_VALUE;
		for (int i = 0; i < 7; i++) {
			long started = System.nanoTime();
			sink.addAndGet(loop(200_000_000));
			fastest = Math.min(fastest, System.nanoTime() - started);
		}
		int cpus = Runtime.getRuntime().availableProcessors();
		long[] longest = new long[cpus];
		long[] stalled = new long[cpus];
		spin(longest, stalled); // once for the JIT, whose compiler threads would otherwise make gaps of their own
		Arrays.fill(longest, 0);
		Arrays.fill(stalled, 0);
		spin(longest, stalled);
		long longestStall = 0;
		long allStalls = 0;
		for (int cpu = 0; cpu < cpus; cpu++) {
			longestStall = Math.max(longestStall, longest[cpu]);
			allStalls += stalled[cpu];
		}
		return new Reading(fastest / 1e6, longestStall / 1e6, allStalls / 1e6);
	}

	/** One thread per CPU reads the clock for {@link #SPIN_NANOS}: per thread the longest gap and the sum of the stalls. */
	private static void spin(long[] longest, long[] stalled) throws InterruptedException {
		List<Thread> spinners = new ArrayList<>();
		for (int cpu = 0; cpu < longest.length; cpu++) {
			int index = cpu;
			Thread spinner = new Thread(() -> {
				long last = System.nanoTime();
				long end = last + SPIN_NANOS;
				while (last < end) {
					long now = System.nanoTime();
					long gap = now - last;
					longest[index] = Math.max(longest[index], gap);
					if (gap > STALL_NANOS) {
						stalled[index] += gap;
					}
					last = now;
				}
			}, "machine-probe-" + cpu);
			spinner.start();
			spinners.add(spinner);
		}
		for (Thread spinner : spinners) {
			spinner.join();
		}
	}

	private static long loop(int iterations) {
		long x = 88172645463325252L;
		long sum = 0;
		for (int i = 0; i < iterations; i++) {
			x ^= x << 13;
			x ^= x >>> 7;
			x ^= x << 17;
			sum += x & 0xff;
		}
		return sum;
	}

}
