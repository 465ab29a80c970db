package dev.tableflip.spring.boot.jetty;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import dev.tableflip.spring.boot.PrivateListener;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.jetty.JettyWebServer;
import org.springframework.boot.web.server.WebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContext;

/**
 * The private listener on Jetty: a second, plain HTTP/1.1 connector on a loopback port, added
 * to the running server and removed again. It runs on the server's thread pool, so the warm-up
 * also starts the threads that will serve, and copies the main connector's HTTP configuration.
 */
public class JettyPrivateListener implements PrivateListener {

	private final ApplicationContext context;

	private volatile @Nullable ServerConnector connector;

	public JettyPrivateListener(ApplicationContext context) {
		this.context = context;
	}

	@Override
	public boolean isFor(WebServer server) {
		return server instanceof JettyWebServer;
	}

	@Override
	public InetSocketAddress open() throws Exception {
		Server server = server();
		// No executor of its own: one passed explicitly would be started and stopped with this connector.
		ServerConnector connector = new ServerConnector(server, 1, 1,
				new HttpConnectionFactory(new HttpConfiguration(mainHttpConfiguration(server))));
		connector.setHost(InetAddress.getLoopbackAddress().getHostAddress());
		connector.setPort(0);
		server.addConnector(connector);
		this.connector = connector;
		try {
			connector.start();
		}
		catch (Exception ex) {
			close();
			throw ex;
		}
		return new InetSocketAddress(InetAddress.getLoopbackAddress(), connector.getLocalPort());
	}

	private static HttpConfiguration mainHttpConfiguration(Server server) {
		for (Connector connector : server.getConnectors()) {
			HttpConnectionFactory http = connector.getConnectionFactory(HttpConnectionFactory.class);
			if (http != null) {
				return http.getHttpConfiguration();
			}
		}
		return new HttpConfiguration();
	}

	@Override
	public void close() {
		ServerConnector connector = this.connector;
		if (connector == null) {
			return;
		}
		this.connector = null;
		try {
			connector.stop(); // closes its listener and the connections accepted on it
		}
		catch (Exception ex) {
			throw new IllegalStateException("cannot close the private connector", ex);
		}
		finally {
			server().removeConnector(connector);
		}
	}

	private Server server() {
		WebServer server = (this.context instanceof WebServerApplicationContext web) ? web.getWebServer() : null;
		if (server instanceof JettyWebServer jetty) {
			return jetty.getServer();
		}
		throw new IllegalStateException("a private listener needs the application's Jetty, but its web server is " + server);
	}

}
