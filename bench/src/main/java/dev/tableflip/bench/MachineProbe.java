package dev.tableflip.bench;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * How fast and how steady this machine's CPUs are at the moment, read while nothing else of the
 * benchmark runs: a latency measured in milliseconds means little on a virtual machine whose
 * host takes its CPUs away now and then, or runs them slower than an hour before (seen on this
 * project's machines: the same loop 20 % slower within half an hour, a steady p99 ten times that
 * of another machine of the same kind a few hours earlier). Four readings:
 * <ul>
 * <li>the time a fixed loop of integer arithmetic takes on one thread (the fastest of several
 * runs, after the JIT has compiled it): the CPU's speed;</li>
 * <li>one thread per CPU, each reading the clock as fast as it can for a while: the longest gap
 * between two readings, and all gaps over 0.5 ms added up. On an idle machine nothing but the
 * host (or the kernel's own work) makes such a gap;</li>
 * <li>the time of a system call ({@code lseek}, through {@link FileChannel#position()}), and of a
 * round trip between two threads that wake each other: a server on loopback spends its time in
 * both. Some machines of this kind run their kernel with page-table isolation under a
 * hypervisor that takes every system call and interrupt through itself (seen: 1 µs a call, 20 µs
 * a round trip); their integer loop is as fast as the others', their wrk capacity half;</li>
 * <li>whether the kernel isolates page tables (its Meltdown mitigation, {@code PTI}): on this
 * kind's AMD CPUs the kernel does so only when told to, as those hypervisors require.</li>
 * </ul>
 */
final class MachineProbe {

	private static final long SPIN_NANOS = 2_000_000_000L;

	private static final long STALL_NANOS = 500_000;

	/** Keeps the loop's result, so that the JIT cannot drop the loop. */
	private static final AtomicLong sink = new AtomicLong();

	private MachineProbe() {
	}

	/**
	 * A reading: the fixed loop's time, the longest stall of any spinning thread and all their
	 * stalls added up (ms), a system call's time (ns), a wake-up round trip's (µs), and whether
	 * the kernel isolates page tables.
	 */
	record Reading(double loopMs, double longestStallMs, double stalledMs, double systemCallNs, double roundTripUs,
			boolean pageTableIsolation) {

		@Override
		public String toString() {
			return String.format("a fixed loop %.0f ms; spinning on every CPU for %d s, longest stall %.1f ms, "
					+ "%.0f ms stalled in all; a system call %.2f µs, a wake-up round trip between two threads "
					+ "%.1f µs; page-table isolation %s", this.loopMs, SPIN_NANOS / 1_000_000_000L,
					this.longestStallMs, this.stalledMs, this.systemCallNs / 1000, this.roundTripUs,
					this.pageTableIsolation ? "on" : "off");
		}

		/**
		 * Why this machine cannot tell a latency in milliseconds apart from its own noise, or
		 * {@code null}: system calls slower than {@link #SLOW_SYSTEM_CALL_NANOS}, as on the
		 * machines of this kind that isolate page tables under a hypervisor of their own.
		 */
		String cannotMeasure() {
			if (!(this.systemCallNs > SLOW_SYSTEM_CALL_NANOS)) {
				return null;
			}
			return String.format("a system call took %.2f µs (page-table isolation %s): on such a machine a server "
					+ "on loopback serves about half as much, and its steady p99 is too high and too noisy for a 2x "
					+ "target to be judged (see performance.md)", this.systemCallNs / 1000,
					this.pageTableIsolation ? "on" : "off");
		}

	}

	/**
	 * Slower than this, a system call is not the CPU's own: 1.0 to 1.5 µs where seen (PVM, PTI on);
	 * without page-table isolation one typically takes a tenth of a µs on today's CPUs.
	 */
	static final double SLOW_SYSTEM_CALL_NANOS = 500;

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
		return new Reading(fastest / 1e6, longestStall / 1e6, allStalls / 1e6, systemCallNanos(),
				roundTripNanos() / 1000.0, pageTableIsolation());
	}

	/** The fastest of several runs of many {@code lseek}s, per call. */
	private static double systemCallNanos() {
		int calls = 100_000;
		long fastest = Long.MAX_VALUE;
		try {
			Path file = Files.createTempFile("machine-probe", "");
			try (FileChannel channel = FileChannel.open(file)) {
				for (int run = 0; run < 10; run++) {
					long started = System.nanoTime();
					for (int i = 0; i < calls; i++) {
						sink.addAndGet(channel.position());
					}
					fastest = Math.min(fastest, System.nanoTime() - started);
				}
			}
			finally {
				Files.delete(file);
			}
		}
		catch (IOException ex) {
			return Double.NaN;
		}
		return (double) fastest / calls;
	}

	/** The median of many round trips: one thread unparks another, which unparks it back. */
	private static double roundTripNanos() throws InterruptedException {
		int trips = 20_000;
		AtomicLong turn = new AtomicLong();
		Thread main = Thread.currentThread();
		Thread peer = new Thread(() -> {
			for (long expected = 1; expected < 2L * trips; expected += 2) {
				while (turn.get() != expected) {
					LockSupport.park();
				}
				turn.incrementAndGet();
				LockSupport.unpark(main);
			}
		}, "machine-probe-peer");
		peer.start();
		long[] times = new long[trips];
		for (int trip = 0; trip < trips; trip++) {
			long started = System.nanoTime();
			turn.incrementAndGet();
			LockSupport.unpark(peer);
			while (turn.get() != 2L * trip + 2) {
				LockSupport.park();
			}
			times[trip] = System.nanoTime() - started;
		}
		peer.join();
		Arrays.sort(times);
		return times[trips / 2];
	}

	/** The kernel's own account of its Meltdown mitigation: "Mitigation: PTI" where it isolates page tables. */
	private static boolean pageTableIsolation() {
		try {
			return Files.readString(Path.of("/sys/devices/system/cpu/vulnerabilities/meltdown")).contains("PTI");
		}
		catch (IOException ex) {
			return false;
		}
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
