package dev.tableflip.spring.boot.reactor.netty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ServerSocketChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.Supplier;

import dev.tableflip.spring.boot.DrainParticipant;
import dev.tableflip.spring.boot.TableflipUpgrader;
import io.netty.channel.Channel;
import org.jspecify.annotations.Nullable;
import reactor.netty.http.HttpResources;
import reactor.netty.resources.LoopResources;

import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * Makes Reactor Netty serve on the listener tableflip gives it, and takes part in the drain:
 * its server channel stops accepting. Responses say {@code Connection: close} when tableflip's
 * {@link dev.tableflip.spring.boot.KeepAlive} says so ({@link ConnectionCloseWebFilter}).
 */
public class NettyListenerAdoption
		implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory>, DrainParticipant, Ordered {

	private final TableflipUpgrader upgrader;

	private final @Nullable ReactorResourceFactory resourceFactory;

	private final List<Channel> serverChannels = new CopyOnWriteArrayList<>();

	public NettyListenerAdoption(TableflipUpgrader upgrader, @Nullable ReactorResourceFactory resourceFactory) {
		this.upgrader = upgrader;
		upgrader.participate(this);
		this.resourceFactory = resourceFactory;
	}

	@Override
	public void customize(NettyReactiveWebServerFactory factory) {
		Supplier<ServerSocketChannel> listener = () -> {
			try {
				return this.upgrader.listener(factory.getAddress(), factory.getPort());
			}
			catch (IOException ex) {
				throw new UncheckedIOException(ex);
			}
		};
		if (this.resourceFactory != null) {
			// NettyWebServer applies the resource factory's loop resources last, over any customizer's.
			factory.setResourceFactory(new AdoptingResourceFactory(this.resourceFactory,
					(delegate) -> adopting(delegate, listener)));
		}
		else {
			factory.addServerCustomizers((server) -> server.runOn(adopting(HttpResources.get(), listener)));
		}
	}

	private LoopResources adopting(LoopResources delegate, Supplier<ServerSocketChannel> listener) {
		return new AdoptingLoopResources(delegate, listener, this.serverChannels::add, this.upgrader.intake());
	}

	/** Whether the response about to be written on {@code connection} should end it. */
	public boolean endsConnection(Object connection) {
		return this.upgrader.keepAlive().endsConnection(connection);
	}

	/**
	 * Stops reading accepts on the server channels, which hold descriptors of their own. Not a
	 * close: Reactor Netty takes a closed server channel for a disposed server, and Boot's
	 * graceful shutdown would then not wait for the requests in flight.
	 */
	@Override
	public void stopAccepting() {
		for (Channel channel : this.serverChannels) {
			channel.eventLoop().submit(() -> channel.config().setAutoRead(false)).syncUninterruptibly();
		}
	}

	@Override
	public int getOrder() {
		return Ordered.LOWEST_PRECEDENCE;
	}

	/** The application's resource factory, whose loop resources build adopted server channels. */
	private static final class AdoptingResourceFactory extends ReactorResourceFactory {

		private final ReactorResourceFactory delegate;

		private final Function<LoopResources, LoopResources> adopting;

		private volatile @Nullable LoopResources loopResources;

		AdoptingResourceFactory(ReactorResourceFactory delegate, Function<LoopResources, LoopResources> adopting) {
			this.delegate = delegate;
			this.adopting = adopting;
		}

		@Override
		public LoopResources getLoopResources() {
			LoopResources resources = this.loopResources;
			if (resources == null) {
				resources = this.adopting.apply(this.delegate.getLoopResources());
				this.loopResources = resources;
			}
			return resources;
		}

	}

}
