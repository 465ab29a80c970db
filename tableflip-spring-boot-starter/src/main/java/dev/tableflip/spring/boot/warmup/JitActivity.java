package dev.tableflip.spring.boot.warmup;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayDeque;
import java.util.Deque;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

/**
 * How busy this JVM's JIT compiler is, from the time its compiler threads spent compiling
 * ({@link CompilationMXBean#getTotalCompilationTime()}): sampled every
 * {@value #SAMPLE_MILLIS} ms, it is idle when it compiled for at most {@value #IDLE_MILLIS} ms
 * in the last {@value #WINDOW_MILLIS} ms. A warmed JVM under steady load compiles now and then
 * for years (a method deoptimized, a rarely taken branch); one that still compiles for more
 * than a few per cent of the time has hot paths that are not compiled yet.
 */
final class JitActivity {

	private static final Log logger = LogFactory.getLog(JitActivity.class);

	static final long SAMPLE_MILLIS = 250;

	static final long WINDOW_MILLIS = 2_000;

	static final long IDLE_MILLIS = 20;

	private final @Nullable CompilationMXBean compiler;

	private final long first;

	/** The compilation time at each sample of the window, oldest first. */
	private final Deque<Long> window = new ArrayDeque<>();

	JitActivity() {
		CompilationMXBean compiler = ManagementFactory.getCompilationMXBean();
		this.compiler = (compiler != null && compiler.isCompilationTimeMonitoringSupported()) ? compiler : null;
		if (this.compiler == null) {
			logger.warn("This JVM does not tell how long its JIT compiled: the warm-up cannot wait until it is idle");
		}
		this.first = compiled();
		this.window.add(this.first);
	}

	private long compiled() {
		return (this.compiler != null) ? this.compiler.getTotalCompilationTime() : 0;
	}

	/** Starts the window afresh: {@link #idle()} needs a whole window of samples from now on. */
	void startWindow() {
		this.window.clear();
		this.window.add(compiled());
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
		this.window.addLast(compiled());
		while (this.window.size() > WINDOW_MILLIS / SAMPLE_MILLIS + 1) {
			this.window.removeFirst();
		}
		if (logger.isDebugEnabled()) {
			logger.debug("JIT: " + describe());
		}
		return true;
	}

	/**
	 * Whether the JIT compiled for at most {@value #IDLE_MILLIS} ms in the last
	 * {@value #WINDOW_MILLIS} ms; never before a whole window was sampled. A JVM that does not
	 * tell is taken as idle.
	 */
	boolean idle() {
		if (this.compiler == null) {
			return true;
		}
		return this.window.size() > WINDOW_MILLIS / SAMPLE_MILLIS && lastWindow() <= IDLE_MILLIS;
	}

	private long lastWindow() {
		return this.window.getLast() - this.window.getFirst();
	}

	/** How long the JIT compiled since this was created, in ms. */
	long compiledMillis() {
		return compiled() - this.first;
	}

	String describe() {
		return lastWindow() + " ms of compiling in the last " + (this.window.size() - 1) * SAMPLE_MILLIS + " ms";
	}

}
