package dev.tableflip.spring.boot.tomcat;

import java.nio.channels.ServerSocketChannel;

import java.io.IOException;

import dev.tableflip.spring.boot.Intake;
import dev.tableflip.spring.boot.KeepAlive;
import org.apache.coyote.Processor;
import org.apache.coyote.http11.Http11NioProtocol;
import org.apache.coyote.http11.Http11Processor;
import org.apache.tomcat.util.net.AbstractEndpoint.Handler.SocketState;
import org.apache.tomcat.util.net.SocketWrapperBase;
import org.jspecify.annotations.Nullable;

/**
 * Tomcat's HTTP/1.1 NIO protocol (HTTP/2 and TLS included, configured as usual) on a
 * listener that tableflip hands it. Installed with
 * {@code TomcatWebServerFactory#setProtocol(String)}.
 */
public class TableflipHttp11NioProtocol extends Http11NioProtocol {

	/** The connection the current thread serves, for the keep-alive decision. */
	private static final ThreadLocal<SocketWrapperBase<?>> connection = new ThreadLocal<>();

	private volatile @Nullable KeepAlive keepAlive;

	public TableflipHttp11NioProtocol() {
		super(new AdoptingNioEndpoint());
	}

	/**
	 * Accept from this listener instead of binding one, when {@code intake} lets it, and keep
	 * connections alive as {@code keepAlive} says.
	 */
	public void adopt(ServerSocketChannel listener, Intake intake, KeepAlive keepAlive) {
		((AdoptingNioEndpoint) getEndpoint()).adopt(listener, intake);
		this.keepAlive = keepAlive;
	}

	/** Tomcat asks for each request: 1 ends the connection with this response. */
	@Override
	public int getMaxKeepAliveRequests() {
		KeepAlive keepAlive = this.keepAlive;
		SocketWrapperBase<?> current = connection.get();
		return (keepAlive != null && current != null && keepAlive.endsConnection(current)) ? 1
				: super.getMaxKeepAliveRequests();
	}

	@Override
	protected Processor createProcessor() {
		return new Http11Processor(this, getAdapter()) {

			@Override
			public SocketState service(SocketWrapperBase<?> socketWrapper) throws IOException {
				connection.set(socketWrapper);
				try {
					return super.service(socketWrapper);
				}
				finally {
					connection.remove();
				}
			}

		};
	}

	/** Whether a listener was adopted. */
	public boolean hasListener() {
		return ((AdoptingNioEndpoint) getEndpoint()).hasListener();
	}

}
