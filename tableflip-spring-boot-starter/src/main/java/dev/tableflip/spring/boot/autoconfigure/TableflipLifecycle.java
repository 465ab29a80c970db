package dev.tableflip.spring.boot.autoconfigure;

import java.util.List;


import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.ProcessLife;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.Takeover;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle;
import org.springframework.context.ApplicationListener;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.SmartLifecycle;

/**
 * Tells the process's {@link ProcessLife} what the application does: that it started (the
 * life then runs the takeover and becomes ready, upgrades on the signal, drains after an
 * upgrade), and that it shuts down without an upgrade ({@link #stop()}).
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
		String signal = this.properties.getUpgradeSignal();
		// resolved now: they are told after the context closed, when it can no longer give out beans
		List<DrainObserver> observers = this.observers.orderedStream().toList();
		this.upgrader.life()
			.started(new ProcessLife.Application(this.context, this.takeover,
					signal.equalsIgnoreCase("none") ? null : signal.toUpperCase(), this.properties.getDrainGrace(),
					this.properties.getWebsocketCloseWindow(), this.properties.getExitTimeout(),
					(took) -> observers.forEach((observer) -> observer.drained(took))));
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
		if (!this.upgrader.life().stop()) {
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

}
