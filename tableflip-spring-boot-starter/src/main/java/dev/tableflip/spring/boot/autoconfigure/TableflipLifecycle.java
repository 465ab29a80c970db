package dev.tableflip.spring.boot.autoconfigure;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;

import dev.tableflip.spring.boot.Drain;
import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeSignal;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Ties the upgrader to the application's life: ready once the application is ready, an
 * upgrade on each signal, and a drain after a successful upgrade.
 */
public class TableflipLifecycle implements ApplicationListener<ApplicationReadyEvent> {

	private final TableflipUpgrader upgrader;

	private final TableflipProperties properties;

	private final ConfigurableApplicationContext context;

	private final ObjectProvider<DrainObserver> observers;

	TableflipLifecycle(TableflipUpgrader upgrader, TableflipProperties properties,
			ConfigurableApplicationContext context, ObjectProvider<DrainObserver> observers) {
		this.upgrader = upgrader;
		this.properties = properties;
		this.context = context;
		this.observers = observers;
	}

	@Override
	public void onApplicationEvent(ApplicationReadyEvent event) {
		if (event.getApplicationContext() != this.context) {
			return;
		}
		try {
			this.upgrader.ready();
		}
		catch (IOException ex) {
			throw new UncheckedIOException("cannot tell tableflip this process is ready", ex);
		}
		String signal = this.properties.getUpgradeSignal();
		if (!signal.equalsIgnoreCase("none")) {
			UpgradeSignal.install(signal.toUpperCase(), () -> this.upgrader.upgradeAsync("signal"));
		}
		this.upgrader.handedOver().thenRun(() -> drain().start());
	}

	private Drain drain() {
		return new Drain(this.upgrader, this.upgrader.drainParticipants(), this.properties.getDrainGrace(),
				this.properties.getExitTimeout(), this.context, this::drained);
	}

	private void drained(Duration took) {
		this.observers.orderedStream().forEach((observer) -> observer.drained(took));
	}

}
