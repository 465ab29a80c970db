package dev.tableflip.spring.boot.jetty;

import dev.tableflip.spring.boot.KeepAlive;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;

/**
 * Answers an HTTP/1.x request with {@code Connection: close} when tableflip's
 * {@link KeepAlive} says its connection should end: for a growing share of connections
 * during the overlap after an upgrade, for all of them while the old process drains. Jetty
 * then closes the connection after the response, and the client reconnects, to the new
 * process. HTTP/2 has no such header; its connections end with the server.
 */
class ConnectionCloseCustomizer implements HttpConfiguration.Customizer {

	private final KeepAlive keepAlive;

	ConnectionCloseCustomizer(KeepAlive keepAlive) {
		this.keepAlive = keepAlive;
	}

	@Override
	public Request customize(Request request, HttpFields.Mutable responseHeaders) {
		ConnectionMetaData connection = request.getConnectionMetaData();
		if (connection.getHttpVersion().getVersion() < HttpVersion.HTTP_2.getVersion()
				&& this.keepAlive.endsConnection(connection.getConnection())) {
			responseHeaders.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
		}
		return request;
	}

}
