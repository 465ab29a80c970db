package dev.tableflip.spring.boot.jetty.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import dev.tableflip.spring.boot.jetty.JettyListenerAdoption;
import dev.tableflip.spring.boot.jetty.JettyPrivateListener;
import org.eclipse.jetty.server.Server;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.jetty.JettyWebServerFactory;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * Jetty (servlet or reactive) accepts from the listener tableflip hands over, and opens a
 * private listener for the warm-up.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ Server.class, JettyWebServerFactory.class })
@ConditionalOnWebApplication
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipJettyAutoConfiguration {

	@Bean
	@ConditionalOnMissingBean
	JettyListenerAdoption tableflipJettyListenerAdoption(TableflipUpgrader upgrader) {
		return new JettyListenerAdoption(upgrader);
	}

	@Bean
	JettyPrivateListener tableflipJettyPrivateListener(ApplicationContext context) {
		return new JettyPrivateListener(context);
	}

}
