package dev.tableflip.spring.boot;

import java.net.InetSocketAddress;
import java.util.stream.Stream;

import org.springframework.boot.web.server.WebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContext;

/**
 * A private loopback listener of the application's own web server, open only while a
 * before-ready step uses it (the warm-up, the health gate's probe): those requests reach this
 * process's server through it, never the shared listener, whose queue belongs to the old
 * process until this one is ready. Server adapters provide one.
 */
public interface PrivateListener {

	/** Whether this listener can open one for the application's running server. */
	boolean isFor(WebServer server);

	/**
	 * Opens the listener on an ephemeral loopback port.
	 * @return where it listens
	 * @throws Exception if the server cannot open one
	 */
	InetSocketAddress open() throws Exception;

	/** Closes the listener and every connection accepted on it. */
	void close();

	/**
	 * The one of {@code candidates} for the application's running server.
	 * @throws IllegalStateException if it runs no server, or one none of them supports
	 */
	static PrivateListener forRunningServer(ApplicationContext context, Stream<PrivateListener> candidates) {
		WebServer server = (context instanceof WebServerApplicationContext web) ? web.getWebServer() : null;
		if (server == null) {
			throw new IllegalStateException("a private listener needs a web server, and this application runs none");
		}
		return candidates.filter((listener) -> listener.isFor(server))
			.findFirst()
			.orElseThrow(() -> new IllegalStateException("tableflip can open a private listener on Tomcat, "
					+ "Jetty and Reactor Netty, not on " + server.getClass().getSimpleName()));
	}

}
