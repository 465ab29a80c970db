package dev.tableflip.spring.boot.actuate.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.jetty.JettyListenerAdoption;
import dev.tableflip.spring.boot.reactor.netty.NettyListenerAdoption;
import dev.tableflip.spring.boot.tomcat.TomcatListenerAdoption;
import org.apache.catalina.startup.Tomcat;
import org.eclipse.jetty.server.Server;
import reactor.netty.http.server.HttpServer;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextType;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication.Type;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * The server of a separate management port ({@code management.server.port}) runs in a child
 * context, which the main context's customizers do not reach: adopt its listener here too,
 * or the new process would find the management port in use.
 */
@ManagementContextConfiguration(value = ManagementContextType.CHILD, proxyBeanMethods = false)
@ConditionalOnBean(TableflipUpgrader.class)
class TableflipManagementChildContextConfiguration {

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(Tomcat.class)
	@ConditionalOnWebApplication(type = Type.SERVLET)
	static class TomcatConfiguration {

		@Bean
		TomcatListenerAdoption tableflipManagementTomcatListenerAdoption(TableflipUpgrader upgrader) {
			return new TomcatListenerAdoption(upgrader);
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(Server.class)
	@ConditionalOnWebApplication
	static class JettyConfiguration {

		@Bean
		JettyListenerAdoption tableflipManagementJettyListenerAdoption(TableflipUpgrader upgrader) {
			return new JettyListenerAdoption(upgrader);
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(HttpServer.class)
	@ConditionalOnWebApplication(type = Type.REACTIVE)
	static class ReactorNettyConfiguration {

		@Bean
		NettyListenerAdoption tableflipManagementNettyListenerAdoption(TableflipUpgrader upgrader,
				ObjectProvider<ReactorResourceFactory> resourceFactory) {
			return new NettyListenerAdoption(upgrader, resourceFactory.getIfAvailable());
		}

	}

}
