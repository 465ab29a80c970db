package dev.tableflip.spring.boot.autoconfigure;

import dev.tableflip.spring.boot.UpgradeSignal;

import org.springframework.boot.context.event.ApplicationEnvironmentPreparedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;

/**
 * Installs the upgrade signal's handler as soon as the application's configuration is known
 * (after the config data and the logging system, about a second after the JVM started), so that
 * a signal while the application starts is refused instead of ending the process, which is what
 * the JVM does with SIGHUP by default. The process's life takes the signal when the application
 * has started ({@link UpgradeSignal#upgradeWith}). Registered in {@code META-INF/spring.factories}.
 */
public final class UpgradeSignalListener implements ApplicationListener<ApplicationEnvironmentPreparedEvent>, Ordered {

	@Override
	public void onApplicationEvent(ApplicationEnvironmentPreparedEvent event) {
		ConfigurableEnvironment environment = event.getEnvironment();
		String signal;
		try {
			if (!environment.getProperty("tableflip.enabled", Boolean.class, true)) {
				return;
			}
			signal = environment.getProperty("tableflip.upgrade-signal", "HUP").toUpperCase();
		}
		catch (RuntimeException ex) {
			return; // a value that does not convert: the properties' binding says so when the context starts
		}
		// "none", or a name the properties' check refuses with its reason when the context starts
		if (!signal.equals("NONE") && UpgradeSignal.exists(signal)) {
			UpgradeSignal.install(signal);
		}
	}

	/** After the config data and the logging system. */
	@Override
	public int getOrder() {
		return Ordered.LOWEST_PRECEDENCE;
	}

}
