package dev.tableflip.spring.boot.jetty;

import dev.tableflip.spring.boot.KeepAlive;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http2.HTTP2Connection;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;

/**
 * Answers an HTTP/1.x request with {@code Connection: close} when tableflip's
 * {@link KeepAlive} says its connection should end: for a growing share of connections
 * during the overlap after an upgrade, for all of them while the old process drains. Jetty
 * then closes the connection after the response, and the client reconnects, to the new
 * process. HTTP/2 has no such header: at its moment an HTTP/2 connection's session is shut
 * down the way Jetty shuts down every session at a graceful stop, alone: a {@code GOAWAY}, the
 * streams in flight finish, the client opens its next connection, to the new process.
 */
class ConnectionCloseCustomizer implements HttpConfiguration.Customizer {

	private final KeepAlive keepAlive;

	ConnectionCloseCustomizer(KeepAlive keepAlive) {
		this.keepAlive = keepAlive;
	}

	@Override
	public Request customize(Request request, HttpFields.Mutable responseHeaders) {
		ConnectionMetaData connection = request.getConnectionMetaData();
		if (this.keepAlive.endsConnection(connection.getConnection())) {
			if (connection.getHttpVersion().getVersion() < HttpVersion.HTTP_2.getVersion()) {
				responseHeaders.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
			}
			else if (connection.getHttpVersion() == HttpVersion.HTTP_2) {
				Http2.goAway(connection.getConnection());
			}
		}
		return request;
	}

	/** Kept apart: Jetty's HTTP/2 classes are there only when the application speaks HTTP/2. */
	private static final class Http2 {

		static void goAway(Connection connection) {
			if (connection instanceof HTTP2Connection http2) {
				http2.getSession().shutdown(); // idempotent: once per connection
			}
		}

	}

}
