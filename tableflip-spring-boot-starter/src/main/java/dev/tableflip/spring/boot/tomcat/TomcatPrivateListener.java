package dev.tableflip.spring.boot.tomcat;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import dev.tableflip.spring.boot.PrivateListener;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Service;
import org.apache.catalina.connector.Connector;
import org.apache.coyote.AbstractProtocol;
import org.apache.coyote.http11.Http11NioProtocol;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.tomcat.TomcatWebServer;
import org.springframework.boot.web.server.WebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContext;

/**
 * The private listener on Tomcat: a second connector on a loopback port, added to the running
 * server's service and removed again. It shares the main connector's thread pool, so the
 * warm-up also starts the threads that will serve.
 */
public class TomcatPrivateListener implements PrivateListener {

	private final ApplicationContext context;

	private volatile @Nullable Connector connector;

	public TomcatPrivateListener(ApplicationContext context) {
		this.context = context;
	}

	@Override
	public boolean isFor(WebServer server) {
		return server instanceof TomcatWebServer;
	}

	@Override
	public InetSocketAddress open() {
		Service service = tomcat().getTomcat().getService();
		Connector main = tomcat().getTomcat().getConnector();
		Connector connector = new Connector(Http11NioProtocol.class.getName());
		connector.setPort(0);
		connector.setProperty("address", InetAddress.getLoopbackAddress().getHostAddress());
		if (connector.getProtocolHandler() instanceof AbstractProtocol<?> protocol
				&& main.getProtocolHandler().getExecutor() != null) {
			protocol.setExecutor(main.getProtocolHandler().getExecutor());
		}
		service.addConnector(connector);
		this.connector = connector;
		if (connector.getLocalPort() <= 0) {
			close();
			throw new IllegalStateException("the private connector did not start: " + connector.getStateName());
		}
		return new InetSocketAddress(InetAddress.getLoopbackAddress(), connector.getLocalPort());
	}

	@Override
	public void close() {
		Connector connector = this.connector;
		if (connector == null) {
			return;
		}
		this.connector = null;
		tomcat().getTomcat().getService().removeConnector(connector); // stops it
		try {
			connector.destroy(); // closes its listener
		}
		catch (LifecycleException ex) {
			throw new IllegalStateException("cannot close the private connector", ex);
		}
	}

	private TomcatWebServer tomcat() {
		WebServer server = (this.context instanceof WebServerApplicationContext web) ? web.getWebServer() : null;
		if (server instanceof TomcatWebServer tomcat) {
			return tomcat;
		}
		throw new IllegalStateException("a private listener needs the application's Tomcat, but its web server is " + server);
	}

}
