package dev.tableflip.spring.boot.reactor.netty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.Supplier;

import dev.tableflip.spring.boot.DrainParticipant;
import dev.tableflip.spring.boot.TableflipUpgrader;
import io.netty.channel.Channel;
import io.netty.channel.ServerChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.jspecify.annotations.Nullable;
import reactor.netty.channel.ChannelOperations;
import reactor.netty.http.HttpResources;
import reactor.netty.http.websocket.WebsocketOutbound;
import reactor.netty.resources.LoopResources;

import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * Makes Reactor Netty serve on the listener tableflip gives it, and takes part in the drain:
 * its server channel stops accepting, every HTTP/2 connection is sent a {@code GOAWAY} (the
 * idle ones too, which no response would reach), and its WebSocket sessions are closed one
 * after another. Responses say {@code Connection: close} when tableflip's
 * {@link dev.tableflip.spring.boot.KeepAlive} says so ({@link ConnectionCloseWebFilter}).
 */
public class NettyListenerAdoption
		implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory>, DrainParticipant, Ordered {

	private final TableflipUpgrader upgrader;

	private final @Nullable ReactorResourceFactory resourceFactory;

	/** Set on an HTTP/2 connection once it was told to go. */
	private static final AttributeKey<Boolean> GONE_AWAY = AttributeKey.valueOf("tableflip.goneAway");

	/** Set on a WebSocket connection once the drain listed it to be closed. */
	private static final AttributeKey<Boolean> LISTED_WEBSOCKET = AttributeKey.valueOf("tableflip.listedWebSocket");

	private final List<Channel> serverChannels = new CopyOnWriteArrayList<>();

	/** The connections the server accepted; Netty removes each when it closes. */
	private final ChannelGroup connections = new DefaultChannelGroup("tableflip-connections",
			GlobalEventExecutor.INSTANCE);

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
		factory.addServerCustomizers((server) -> server.doOnChannelInit((observer, channel, remoteAddress) -> {
			if (channel.parent() instanceof ServerChannel) { // a connection, not an HTTP/2 stream
				this.connections.add(channel);
			}
		}));
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
		for (Channel connection : this.connections) {
			if (connection.pipeline().get(Http2FrameCodec.class) != null) {
				goAway(connection);
			}
		}
	}

	/**
	 * Each WebSocket connection not listed before, as the action that sends it a close frame with
	 * 1001 (going away).
	 */
	@Override
	public List<Runnable> openWebSockets() {
		List<Runnable> closes = new ArrayList<>();
		for (Channel connection : this.connections) {
			if (ChannelOperations.get(connection) instanceof WebsocketOutbound webSocket
					&& connection.attr(LISTED_WEBSOCKET).setIfAbsent(true) == null) {
				closes.add(() -> webSocket.sendClose(1001, "going away").onErrorComplete().subscribe());
			}
		}
		return closes;
	}

	/**
	 * Closes an HTTP/2 connection the way Netty closes one, gracefully, once: a {@code GOAWAY}
	 * that names the last stream it takes, the streams in flight finish, then the connection
	 * closes; the client opens its next connection, which the new process accepts.
	 */
	static void goAway(Channel connection) {
		if (connection.attr(GONE_AWAY).setIfAbsent(true) == null) {
			connection.close();
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
