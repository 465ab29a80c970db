package dev.tableflip.spring.boot.reactor.netty;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;

import dev.tableflip.spring.boot.PrivateListener;
import org.jspecify.annotations.Nullable;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

import org.springframework.boot.reactor.netty.NettyWebServer;
import org.springframework.boot.web.server.WebServer;
import org.springframework.context.ApplicationContext;
import org.springframework.http.server.reactive.HttpHandler;
import org.springframework.http.server.reactive.ReactorHttpHandlerAdapter;

/**
 * The private listener on Reactor Netty: a second server on a loopback port, on the same event
 * loops, serving the application's own {@link HttpHandler}, disposed of again.
 */
public class NettyPrivateListener implements PrivateListener {

	private static final Duration TIMEOUT = Duration.ofSeconds(10);

	private final ApplicationContext context;

	private volatile @Nullable DisposableServer server;

	public NettyPrivateListener(ApplicationContext context) {
		this.context = context;
	}

	@Override
	public boolean isFor(WebServer server) {
		return server instanceof NettyWebServer;
	}

	@Override
	public InetSocketAddress open() {
		DisposableServer server = HttpServer.create()
			.bindAddress(() -> new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
			.handle(new ReactorHttpHandlerAdapter(this.context.getBean(HttpHandler.class)))
			.bindNow(TIMEOUT);
		this.server = server;
		return (InetSocketAddress) server.address();
	}

	@Override
	public void close() {
		DisposableServer server = this.server;
		if (server != null) {
			this.server = null;
			server.disposeNow(TIMEOUT);
		}
	}

}
