package dev.tableflip.spring.boot;

import java.time.Duration;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.core.Ordered;

/**
 * The old process keeps accepting beside the new one for a while after it is ready, while
 * the new JVM's JIT warms up, and hands its keep-alive connections over one at a time; only
 * then does it stop accepting and drain. The two processes meanwhile take turns to accept, the
 * new one for a growing part of the time ({@link Intake}), so its share of the traffic grows
 * with its speed. Without it,
 * all traffic lands at once on a JVM that serves a fraction of its warm throughput for its
 * first seconds.
 */
public final class Overlap implements TakeoverStep, Ordered {

	private static final Log logger = LogFactory.getLog(Overlap.class);

	private final TableflipUpgrader upgrader;

	private final Duration duration;

	public Overlap(TableflipUpgrader upgrader, Duration duration) {
		this.upgrader = upgrader;
		this.duration = duration;
		upgrader.intake().rampUpOver(duration); // in a new process, once it is ready
	}

	@Override
	public Phase phase() {
		return Phase.AFTER_READY;
	}

	@Override
	public String name() {
		return "overlap";
	}

	@Override
	public void run() throws InterruptedException {
		logger.info("Process " + this.upgrader.pid() + " keeps accepting beside the new process for "
				+ this.duration.toMillis() + " ms (tableflip.takeover.overlap) and hands over its keep-alive clients");
		this.upgrader.intake().yieldOver(this.duration); // the new process's growing part of each 100 ms
		this.upgrader.keepAlive().rampDown(this.duration);
		Thread.sleep(this.duration.toMillis());
	}

	@Override
	public int getOrder() {
		return Ordered.LOWEST_PRECEDENCE; // the last thing before the drain
	}

}
