package dev.tableflip.spring.boot.autoconfigure;

import java.io.IOException;
import java.time.Duration;

import dev.tableflip.spring.boot.Drain;
import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.Takeover;
import dev.tableflip.spring.boot.Takeover.TakeoverFailedException;
import dev.tableflip.spring.boot.UpgradeSignal;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle;
import org.springframework.context.ApplicationListener;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.SmartLifecycle;

/**
 * Ties the upgrader to the application's life: once the application is ready, the takeover's
 * before-ready steps and then ready; an upgrade on each signal; after a successful upgrade,
 * the after-ready steps and then the drain. A shutdown without an upgrade stops accepting
 * before the servers shut down gracefully ({@link #stop()}).
 */
public class TableflipLifecycle implements ApplicationListener<ApplicationReadyEvent>, SmartLifecycle {

	private static final Log logger = LogFactory.getLog(TableflipLifecycle.class);

	private final TableflipUpgrader upgrader;

	private final Takeover takeover;

	private final TableflipProperties properties;

	private final ConfigurableApplicationContext context;

	private final ObjectProvider<DrainObserver> observers;

	private volatile boolean running;

	TableflipLifecycle(TableflipUpgrader upgrader, Takeover takeover, TableflipProperties properties,
			ConfigurableApplicationContext context, ObjectProvider<DrainObserver> observers) {
		this.upgrader = upgrader;
		this.takeover = takeover;
		this.properties = properties;
		this.context = context;
		this.observers = observers;
	}

	@Override
	public void onApplicationEvent(ApplicationReadyEvent event) {
		if (event.getApplicationContext() != this.context) {
			return;
		}
		// Its own thread: the before-ready steps may take seconds, and the event's other
		// listeners should not wait for them.
		Thread becomeReady = new Thread(this::becomeReady, "tableflip-takeover");
		becomeReady.setDaemon(true);
		becomeReady.start();
	}

	private void becomeReady() {
		try {
			this.takeover.becomeReady();
		}
		catch (TakeoverFailedException | IOException | RuntimeException ex) {
			logger.error("Process " + this.upgrader.pid() + " will not serve: " + ex.getMessage()
					+ (this.upgrader.upgrader().hasParent() ? "; the old process keeps serving" : "") + "; exiting",
					ex);
			System.exit(SpringApplication.exit(this.context, () -> 1));
			return;
		}
		String signal = this.properties.getUpgradeSignal();
		if (!signal.equalsIgnoreCase("none")) {
			UpgradeSignal.install(signal.toUpperCase(), () -> this.upgrader.upgradeAsync("signal"));
		}
		this.upgrader.handedOver().thenRun(() -> {
			Thread handOver = new Thread(() -> {
				this.takeover.handOver();
				drain().start();
			}, "tableflip-handover");
			handOver.setDaemon(true);
			handOver.start();
		});
	}

	@Override
	public void start() {
		this.running = true;
	}

	/**
	 * A shutdown without an upgrade: stop accepting first, and give what was accepted the
	 * drain's grace period, before the servers' graceful shutdown pauses them (Tomcat answers
	 * 503 to a request it reads while paused, and wakes its acceptor with a connection of its
	 * own that, on a socket systemd holds, a real client's connection can lose the race to).
	 */
	@Override
	public void stop() {
		this.running = false;
		if (!this.upgrader.quiesce()) {
			return;
		}
		logger.info("Process " + this.upgrader.pid() + " is shutting down: it stopped accepting; graceful shutdown in "
				+ this.properties.getDrainGrace().toMillis() + " ms");
		try {
			Thread.sleep(this.properties.getDrainGrace().toMillis());
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

	/** Just before the web servers' graceful shutdown: a higher phase stops earlier. */
	@Override
	public int getPhase() {
		return WebServerGracefulShutdownLifecycle.SMART_LIFECYCLE_PHASE + 1;
	}

	private Drain drain() {
		return new Drain(this.upgrader, this.properties.getDrainGrace(), this.properties.getExitTimeout(),
				this.context, this::drained);
	}

	private void drained(Duration took) {
		this.observers.orderedStream().forEach((observer) -> observer.drained(took));
	}

}
