package dev.tableflip.spring.boot.reactor.netty;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;
import reactor.netty.Connection;

import org.springframework.http.HttpHeaders;
import org.springframework.http.server.reactive.AbstractServerHttpRequest;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

/**
 * Answers with {@code Connection: close} when tableflip says the connection should end: for
 * a growing share of responses during the overlap after an upgrade, for all of them while the
 * old process drains. Keep-alive clients then reconnect, to the new process, instead of
 * sending their next request on a connection that is about to close.
 *
 * <p>An HTTP/2 connection has no such header: at its moment it is closed the way Netty closes
 * an HTTP/2 connection, gracefully ({@link NettyListenerAdoption#goAway}): the streams in
 * flight, this response's too, finish.
 */
public class ConnectionCloseWebFilter implements WebFilter {

	private final NettyListenerAdoption adoption;

	public ConnectionCloseWebFilter(NettyListenerAdoption adoption) {
		this.adoption = adoption;
	}

	@Override
	public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
		exchange.getResponse().beforeCommit(() -> {
			Channel channel = channel(exchange);
			if (channel instanceof Http2StreamChannel stream) {
				Channel connection = stream.parent();
				if (this.adoption.endsConnection(connection)) {
					NettyListenerAdoption.goAway(connection);
				}
			}
			else if (this.adoption.endsConnection((channel != null) ? channel : exchange)) {
				exchange.getResponse().getHeaders().set(HttpHeaders.CONNECTION, "close");
			}
			return Mono.empty();
		});
		return chain.filter(exchange);
	}

	/** The Netty channel of the exchange (an HTTP/2 stream's own), if it has one. */
	private static @Nullable Channel channel(ServerWebExchange exchange) {
		if (exchange.getRequest() instanceof AbstractServerHttpRequest request
				&& request.getNativeRequest() instanceof Connection connection) {
			return connection.channel();
		}
		return null;
	}

}
