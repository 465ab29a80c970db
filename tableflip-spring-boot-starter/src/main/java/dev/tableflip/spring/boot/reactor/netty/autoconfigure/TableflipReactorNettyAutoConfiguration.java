package dev.tableflip.spring.boot.reactor.netty.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import dev.tableflip.spring.boot.reactor.netty.ConnectionCloseWebFilter;
import dev.tableflip.spring.boot.reactor.netty.NettyListenerAdoption;
import dev.tableflip.spring.boot.reactor.netty.NettyPrivateListener;
import reactor.netty.http.server.HttpServer;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication.Type;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * Reactor Netty (WebFlux) serves on the listener tableflip hands over, and on a private
 * listener for the warm-up.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ HttpServer.class, NettyReactiveWebServerFactory.class })
@ConditionalOnWebApplication(type = Type.REACTIVE)
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipReactorNettyAutoConfiguration {

	@Bean
	@ConditionalOnMissingBean
	NettyListenerAdoption tableflipNettyListenerAdoption(TableflipUpgrader upgrader,
			ObjectProvider<ReactorResourceFactory> resourceFactory) {
		return new NettyListenerAdoption(upgrader, resourceFactory.getIfAvailable());
	}

	@Bean
	@ConditionalOnMissingBean
	ConnectionCloseWebFilter tableflipConnectionCloseWebFilter(NettyListenerAdoption adoption) {
		return new ConnectionCloseWebFilter(adoption);
	}

	@Bean
	NettyPrivateListener tableflipNettyPrivateListener(ApplicationContext context) {
		return new NettyPrivateListener(context);
	}

}
