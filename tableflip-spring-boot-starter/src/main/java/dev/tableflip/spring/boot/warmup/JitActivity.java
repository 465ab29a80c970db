package dev.tableflip.spring.boot.warmup;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.LongSupplier;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

/**
 * How busy this JVM's JIT compiler is, from the time its compiler threads spent compiling
 * ({@link CompilationMXBean#getTotalCompilationTime()}): sampled every
 * {@value #SAMPLE_MILLIS} ms, it is idle when it compiled for at most 1 % of the time
 * ({@value #IDLE_MILLIS} ms in {@value #WINDOW_MILLIS} ms) over the last {@value #WINDOW_MILLIS}
 * ms and the last {@value #WINDOW_WORK} requests, whichever window is longer. A warmed JVM under steady load compiles now and then for years (a method
 * deoptimized, a rarely taken branch); one that still compiles for more than a few per cent of
 * the time has hot paths that are not compiled yet. The requests matter on a starved CPU: the
 * JIT compiles a method once it has counted thousands of calls, so at a few hundred requests a
 * second it can compile nothing for seconds with the hot paths still waiting (seen: a new JVM
 * pinned to a busy CPU looked idle after 9,000 requests and compiled after it was ready).
 */
final class JitActivity {

	private static final Log logger = LogFactory.getLog(JitActivity.class);

	static final long SAMPLE_MILLIS = 250;

	static final long WINDOW_MILLIS = 2_000;

	static final long IDLE_MILLIS = 20;

	/** The fewest requests a window holds. */
	static final long WINDOW_WORK = 10_000;

	private final @Nullable LongSupplier compiled;

	/** The requests answered so far. */
	private final LongSupplier work;

	private final long first;

	/** The compilation time and the requests answered at each sample of the window, oldest first. */
	private final Deque<long[]> window = new ArrayDeque<>();

	JitActivity(LongSupplier work) {
		this(compilationTime(), work);
	}

	JitActivity(@Nullable LongSupplier compiled, LongSupplier work) {
		this.compiled = compiled;
		this.work = work;
		if (compiled == null) {
			logger.warn("This JVM does not tell how long its JIT compiled: the warm-up cannot wait until it is idle");
		}
		this.first = compiled();
		startWindow();
	}

	private static @Nullable LongSupplier compilationTime() {
		CompilationMXBean compiler = ManagementFactory.getCompilationMXBean();
		return (compiler != null && compiler.isCompilationTimeMonitoringSupported())
				? compiler::getTotalCompilationTime : null;
	}

	private long compiled() {
		return (this.compiled != null) ? this.compiled.getAsLong() : 0;
	}

	private long[] sample() {
		return new long[] { compiled(), this.work.getAsLong() };
	}

	/** Starts the window afresh: {@link #idle()} needs a whole window of samples from now on. */
	void startWindow() {
		this.window.clear();
		this.window.add(sample());
	}

	/** Waits for the next sample and takes it; {@code false} if interrupted meanwhile, without one. */
	boolean sleepAndSample() {
		try {
			Thread.sleep(SAMPLE_MILLIS);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return false;
		}
		this.window.addLast(sample());
		// drop the oldest sample while the window is whole without it: long enough, and enough requests
		while (this.window.size() > WINDOW_MILLIS / SAMPLE_MILLIS + 1
				&& this.window.getLast()[1] - secondOldest()[1] >= WINDOW_WORK) {
			this.window.removeFirst();
		}
		if (logger.isDebugEnabled()) {
			logger.debug("JIT: " + describe());
		}
		return true;
	}

	/**
	 * Whether the JIT compiled for at most 1 % of the window ({@value #IDLE_MILLIS} ms in
	 * {@value #WINDOW_MILLIS} ms); never before a whole window was sampled. A JVM that does not
	 * tell is taken as idle.
	 */
	boolean idle() {
		if (this.compiled == null) {
			return true;
		}
		long windowMillis = (this.window.size() - 1) * SAMPLE_MILLIS;
		return this.window.size() > WINDOW_MILLIS / SAMPLE_MILLIS && windowWork() >= WINDOW_WORK
				&& lastWindow() * WINDOW_MILLIS <= IDLE_MILLIS * windowMillis;
	}

	private long[] secondOldest() {
		var samples = this.window.iterator();
		samples.next();
		return samples.next();
	}

	private long lastWindow() {
		return this.window.getLast()[0] - this.window.getFirst()[0];
	}

	private long windowWork() {
		return this.window.getLast()[1] - this.window.getFirst()[1];
	}

	/** How long the JIT compiled since this was created, in ms. */
	long compiledMillis() {
		return compiled() - this.first;
	}

	String describe() {
		return lastWindow() + " ms of compiling in the last " + (this.window.size() - 1) * SAMPLE_MILLIS + " ms and "
				+ windowWork() + " requests";
	}

}
