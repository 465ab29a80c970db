package dev.tableflip.spring.boot.autoconfigure;

import java.io.IOException;
import java.time.Duration;

import dev.tableflip.UpgraderOptions;
import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeSignal;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * Zero-downtime upgrades: this JVM's {@link TableflipUpgrader}, told when the application is
 * ready, upgraded on a signal, and drained after a successful upgrade.
 */
@AutoConfiguration
@ConditionalOnBooleanProperty(name = "tableflip.enabled", matchIfMissing = true)
@EnableConfigurationProperties(TableflipProperties.class)
public final class TableflipAutoConfiguration {

	@Bean(destroyMethod = "stop")
	@ConditionalOnMissingBean
	TableflipUpgrader tableflipUpgrader(TableflipProperties properties) throws IOException {
		return TableflipUpgrader.shared(options(properties));
	}

	@Bean
	@ConditionalOnMissingBean
	TableflipLifecycle tableflipLifecycle(TableflipUpgrader upgrader, TableflipProperties properties,
			ConfigurableApplicationContext context, ObjectProvider<DrainObserver> observers) {
		return new TableflipLifecycle(upgrader, properties, context, observers);
	}

	static UpgraderOptions options(TableflipProperties properties) {
		requirePositive("tableflip.upgrade-timeout", properties.getUpgradeTimeout());
		requirePositive("tableflip.exit-timeout", properties.getExitTimeout());
		Duration grace = properties.getDrainGrace();
		if (grace == null || grace.isNegative() || grace.compareTo(properties.getExitTimeout()) >= 0) {
			throw new InvalidConfigurationPropertyValueException("tableflip.drain-grace", grace,
					"must be zero or positive and shorter than tableflip.exit-timeout ("
							+ properties.getExitTimeout() + ")");
		}
		String signal = properties.getUpgradeSignal();
		if (signal == null || (!signal.equalsIgnoreCase("none") && !UpgradeSignal.exists(signal.toUpperCase()))) {
			throw new InvalidConfigurationPropertyValueException("tableflip.upgrade-signal", signal,
					"not a signal this JVM knows; use a name such as HUP or USR2 (without SIG), or 'none'");
		}
		UpgraderOptions options = UpgraderOptions.defaults()
			.withUpgradeTimeout(properties.getUpgradeTimeout())
			.withPidFile(properties.getPidFile());
		if (!properties.getCommand().isEmpty()) {
			options = options.withCommand(properties.getCommand());
		}
		return options;
	}

	private static void requirePositive(String name, Duration value) {
		if (value == null || value.isNegative() || value.isZero()) {
			throw new InvalidConfigurationPropertyValueException(name, value, "must be a positive duration");
		}
	}

}
