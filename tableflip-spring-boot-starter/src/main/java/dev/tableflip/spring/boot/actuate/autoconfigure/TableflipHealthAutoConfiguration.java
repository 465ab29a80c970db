package dev.tableflip.spring.boot.actuate.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.actuate.TableflipHealthIndicator;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The {@code tableflip} health indicator, unless {@code management.health.tableflip.enabled}
 * is false.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ HealthIndicator.class, ConditionalOnEnabledHealthIndicator.class })
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipHealthAutoConfiguration {

	// Nested, so that its condition is read only once Spring Boot's health module is known to be there.
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnEnabledHealthIndicator("tableflip")
	static class EnabledHealthIndicatorConfiguration {

		@Bean
		@ConditionalOnMissingBean(name = "tableflipHealthIndicator")
		TableflipHealthIndicator tableflipHealthIndicator(TableflipUpgrader upgrader) {
			return new TableflipHealthIndicator(upgrader);
		}

	}

}
