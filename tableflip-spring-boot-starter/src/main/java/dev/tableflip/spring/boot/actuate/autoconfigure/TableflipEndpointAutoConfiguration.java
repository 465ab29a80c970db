package dev.tableflip.spring.boot.actuate.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.actuate.TableflipEndpoint;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;

import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The {@code tableflip} actuator endpoint, when exposed.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ Endpoint.class, ConditionalOnAvailableEndpoint.class })
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipEndpointAutoConfiguration {

	// Nested, so that its condition is read only once the actuator is known to be there.
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnAvailableEndpoint(TableflipEndpoint.class)
	static class ExposedEndpointConfiguration {

		@Bean
		@ConditionalOnMissingBean
		TableflipEndpoint tableflipEndpoint(TableflipUpgrader upgrader) {
			return new TableflipEndpoint(upgrader);
		}

	}

}
