package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.function.Consumer;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * How the old process leaves after a successful upgrade (and its overlap), losing no
 * request: keep-alive ends on every response ({@link KeepAlive}), then this process's copy of
 * each listener is closed while its servers still run (nothing accepted is dropped, the new
 * process accepts everything after), then a grace period lets idle keep-alive clients send
 * their next request and be told to reconnect, and only then Spring's graceful shutdown
 * finishes the requests in flight. A hard deadline ends the process if anything hangs.
 */
public final class Drain {

	private static final Log logger = LogFactory.getLog(Drain.class);

	private final TableflipUpgrader upgrader;

	private final Duration grace;

	private final Duration exitTimeout;

	private final ConfigurableApplicationContext context;

	private final Consumer<Duration> drained;

	public Drain(TableflipUpgrader upgrader, Duration grace, Duration exitTimeout, ConfigurableApplicationContext context,
			Consumer<Duration> drained) {
		this.upgrader = upgrader;
		this.grace = grace;
		this.exitTimeout = exitTimeout;
		this.context = context;
		this.drained = drained;
	}

	/** Starts the drain on its own thread; it ends with {@link System#exit(int)}. */
	public void start() {
		Thread deadline = new Thread(this::enforceDeadline, "tableflip-exit-deadline");
		deadline.setDaemon(true);
		deadline.start();
		// Not a daemon: the JVM must not end before the drain does.
		new Thread(this::run, "tableflip-drain").start();
	}

	private void run() {
		long started = System.nanoTime();
		int exitCode = 1;
		try {
			logger.info("Draining process " + this.upgrader.pid() + ": no new connections, keep-alive ends");
			this.upgrader.draining();
			logger.info("Process " + this.upgrader.pid() + " stopped accepting; graceful shutdown in "
					+ this.grace.toMillis() + " ms");
			Thread.sleep(this.grace.toMillis());
			exitCode = SpringApplication.exit(this.context);
			Duration took = Duration.ofNanos(System.nanoTime() - started);
			this.drained.accept(took);
			logger.info("Process " + this.upgrader.pid() + " drained in " + took.toMillis() + " ms; exiting");
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
		catch (RuntimeException ex) {
			logger.error("Draining failed; exiting anyway", ex);
		}
		System.exit(exitCode);
	}

	private void enforceDeadline() {
		try {
			Thread.sleep(this.exitTimeout.toMillis());
		}
		catch (InterruptedException ex) {
			return;
		}
		logger.error("Process " + this.upgrader.pid() + " did not finish draining within " + this.exitTimeout
				+ " (tableflip.exit-timeout); exiting now");
		Runtime.getRuntime().halt(1);
	}

}
