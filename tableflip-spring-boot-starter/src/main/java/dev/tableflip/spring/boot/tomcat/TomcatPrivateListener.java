package dev.tableflip.spring.boot.tomcat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;

import dev.tableflip.spring.boot.KeepAlive;
import dev.tableflip.spring.boot.PrivateListener;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.LifecycleState;
import org.apache.catalina.connector.Connector;
import org.apache.coyote.AbstractProtocol;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.coyote.http11.Http11NioProtocol;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.tomcat.TomcatWebServer;
import org.springframework.boot.web.server.WebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContext;

/**
 * The private listener on Tomcat: a second connector on a loopback port, added to the running
 * server's service and removed again. It shares the main connector's thread pool, so the
 * warm-up also starts the threads that will serve, and on tableflip's protocol it runs the
 * same protocol, whose connections end now and then as they will in an overlap, and often get a
 * new processor, as the main connector's first connections will.
 */
public class TomcatPrivateListener implements PrivateListener {

	/** How long a connection to the private listener lives at most, on tableflip's protocol. */
	private static final Duration REHEARSED_CONNECTION = Duration.ofSeconds(1);

	private final ApplicationContext context;

	private volatile @Nullable Connector connector;

	/** The loopback listener the connector adopted, on tableflip's protocol. */
	private volatile @Nullable ServerSocketChannel listener;

	public TomcatPrivateListener(ApplicationContext context) {
		this.context = context;
	}

	@Override
	public boolean isFor(WebServer server) {
		return server instanceof TomcatWebServer;
	}

	@Override
	public InetSocketAddress open() throws IOException {
		try {
			Connector connector = start();
			if (connector.getState() != LifecycleState.STARTED || connector.getLocalPort() <= 0) {
				throw new IllegalStateException("the private connector did not start: " + connector.getStateName());
			}
			return new InetSocketAddress(InetAddress.getLoopbackAddress(), connector.getLocalPort());
		}
		catch (IOException | RuntimeException ex) {
			close();
			throw ex;
		}
	}

	private Connector start() throws IOException {
		Connector main = tomcat().getTomcat().getConnector();
		Connector connector;
		if (main.getProtocolHandler() instanceof TableflipHttp11NioProtocol) {
			// The main connector's own code, its keep-alive endings included, so that the JIT compiles
			// what will serve and does not recompile it when the overlap ends connections.
			TableflipHttp11NioProtocol protocol = new TableflipHttp11NioProtocol();
			ServerSocketChannel listener = ServerSocketChannel.open();
			this.listener = listener;
			listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
			protocol.adopt(listener, null, KeepAlive.rehearsal(REHEARSED_CONNECTION));
			// A cache of one processor: connections then get new processors and recycled ones, and ended ones are
			// kept or dropped. The main connector's processors are all new at ready; code the JIT compiled
			// without seeing a new one (or a push) would be thrown away then (-Xlog:deoptimization).
			protocol.setProcessorCache(1);
			connector = new Connector(protocol);
			connector.setPort(((InetSocketAddress) listener.getLocalAddress()).getPort());
		}
		else {
			connector = new Connector(Http11NioProtocol.class.getName());
			connector.setPort(0);
			connector.setProperty("address", InetAddress.getLoopbackAddress().getHostAddress());
		}
		if (connector.getProtocolHandler() instanceof AbstractProtocol<?> protocol
				&& main.getProtocolHandler().getExecutor() != null) {
			protocol.setExecutor(main.getProtocolHandler().getExecutor());
		}
		copyRequestLimits(main, connector);
		this.connector = connector;
		tomcat().getTomcat().getService().addConnector(connector); // starts it
		return connector;
	}

	/**
	 * The main connector's limits on a request (as {@code server.tomcat.*} set them), so that
	 * the private one parses requests by the same code: measured, a private connector left at
	 * Tomcat's defaults ({@code maxHttpRequestHeaderSize} -1, "the same as the headers'") made
	 * the new process throw away its compiled request path at its first real request.
	 */
	private static void copyRequestLimits(Connector main, Connector connector) {
		connector.setURIEncoding(main.getURIEncoding());
		connector.setMaxParameterCount(main.getMaxParameterCount());
		connector.setMaxPostSize(main.getMaxPostSize());
		if (main.getProtocolHandler() instanceof AbstractHttp11Protocol<?> from
				&& connector.getProtocolHandler() instanceof AbstractHttp11Protocol<?> to) {
			to.setMaxHttpHeaderSize(from.getMaxHttpHeaderSize());
			to.setMaxHttpRequestHeaderSize(from.getMaxHttpRequestHeaderSize());
			to.setMaxHttpResponseHeaderSize(from.getMaxHttpResponseHeaderSize());
			to.setMaxTrailerSize(from.getMaxTrailerSize());
			to.setMaxExtensionSize(from.getMaxExtensionSize());
			to.setMaxSwallowSize(from.getMaxSwallowSize());
			to.setRelaxedPathChars(from.getRelaxedPathChars());
			to.setRelaxedQueryChars(from.getRelaxedQueryChars());
		}
	}

	@Override
	public void close() {
		Connector connector = this.connector;
		ServerSocketChannel listener = this.listener;
		this.connector = null;
		this.listener = null;
		try {
			if (connector != null) {
				tomcat().getTomcat().getService().removeConnector(connector); // stops it
				connector.destroy(); // closes its listener
			}
		}
		catch (LifecycleException ex) {
			throw new IllegalStateException("cannot close the private connector", ex);
		}
		finally {
			closeQuietly(listener); // in case the connector never took it
		}
	}

	private static void closeQuietly(@Nullable ServerSocketChannel listener) {
		if (listener != null) {
			try {
				listener.close();
			}
			catch (IOException ex) {
				// closed with the connector already, or never bound
			}
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
