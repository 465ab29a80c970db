package dev.tableflip.spring.boot.actuate.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.actuate.TableflipMetrics;
import dev.tableflip.spring.boot.actuate.TableflipObservations;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;

import org.springframework.beans.factory.ObjectProvider;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;

/**
 * Micrometer meters for upgrades, bound to every registry of the application, and each
 * upgrade as an observation of the application's {@link ObservationRegistry} (if it has one).
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass(MeterRegistry.class)
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipMetricsAutoConfiguration {

	@Bean
	@ConditionalOnMissingBean
	TableflipMetrics tableflipMetrics(TableflipUpgrader upgrader) {
		return new TableflipMetrics(upgrader);
	}

	@Bean
	@ConditionalOnMissingBean
	@ConditionalOnClass(ObservationRegistry.class)
	TableflipObservations tableflipObservations(TableflipUpgrader upgrader,
			ObjectProvider<ObservationRegistry> registry) {
		return new TableflipObservations(upgrader, registry.getIfAvailable(() -> ObservationRegistry.NOOP));
	}

}
