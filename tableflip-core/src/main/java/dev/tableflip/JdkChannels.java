package dev.tableflip;

import java.io.FileDescriptor;
import java.io.IOException;
import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Constructor;
import java.lang.reflect.InaccessibleObjectException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;

/**
 * The one place that reaches into the JDK's {@code sun.nio.ch} package: reading the
 * descriptor of a channel and wrapping an inherited descriptor in a JDK channel. The JDK
 * offers neither as public API, so the application must open the package to us.
 */
final class JdkChannels {

	/** The JVM option that opens the package. */
	static final String ADD_OPENS = "--add-opens java.base/sun.nio.ch=ALL-UNNAMED";

	private static final String PROBLEM = "tableflip needs access to the JDK's socket channels to hand "
			+ "listening sockets to a new process, and the package java.base/sun.nio.ch is not opened to it";

	private static final String HOW_TO_FIX = "Add " + ADD_OPENS + " to the java command line, or "
			+ "'Add-Opens: java.base/sun.nio.ch' to the MANIFEST.MF of your executable jar (java -jar only), "
			+ "or put the option in the JDK_JAVA_OPTIONS environment variable";

	private static volatile Access access;

	private JdkChannels() {
	}

	/**
	 * Fails with a message that names the missing JVM option unless the JDK internals this
	 * class needs are accessible.
	 */
	static void checkAccessible() {
		access();
	}

	/** The descriptor number of a JDK socket channel. */
	static int fdOf(Channel channel) {
		Access access = access();
		if (!access.selChImpl.isInstance(channel)) {
			throw new IllegalArgumentException(
					channel.getClass().getName() + " is not a JDK socket channel; tableflip can only hand over those");
		}
		try {
			return (int) access.getFDVal.invoke(channel);
		}
		catch (IllegalAccessException | InvocationTargetException ex) {
			throw new IllegalStateException("could not read the descriptor of " + channel, ex);
		}
	}

	/** The descriptor number behind a {@link FileDescriptor}. */
	static int fdOf(FileDescriptor descriptor) {
		return (int) call(access().fdVal, descriptor);
	}

	/** A {@link FileDescriptor} for a raw descriptor number. */
	static FileDescriptor newFileDescriptor(int fd) {
		return (FileDescriptor) call(access().newFD, fd);
	}

	/** Wraps a bound, listening stream socket in a JDK channel that owns it. */
	static ServerSocketChannel serverSocketChannel(int fd, ProtocolFamily family) throws IOException {
		return (ServerSocketChannel) construct(access().serverSocketChannel, SelectorProvider.provider(), family,
				newFileDescriptor(fd), true);
	}

	/** Wraps a bound datagram socket in a JDK channel that owns it. */
	static DatagramChannel datagramChannel(int fd) throws IOException {
		return (DatagramChannel) construct(access().datagramChannel, SelectorProvider.provider(),
				newFileDescriptor(fd));
	}

	/** Wraps a connected stream socket in a JDK channel that owns it. */
	static SocketChannel socketChannel(int fd, ProtocolFamily family, SocketAddress remote) throws IOException {
		return (SocketChannel) construct(access().socketChannel, SelectorProvider.provider(), family,
				newFileDescriptor(fd), remote);
	}

	private static Object construct(Constructor<?> constructor, Object... arguments) throws IOException {
		try {
			return constructor.newInstance(arguments);
		}
		catch (InvocationTargetException ex) {
			if (ex.getCause() instanceof IOException io) {
				throw io;
			}
			throw new IllegalStateException("could not wrap an inherited descriptor in a JDK channel", ex.getCause());
		}
		catch (ReflectiveOperationException ex) {
			throw new IllegalStateException("could not wrap an inherited descriptor in a JDK channel", ex);
		}
	}

	private static Object call(Method method, Object argument) {
		try {
			return method.invoke(null, argument);
		}
		catch (ReflectiveOperationException ex) {
			throw new IllegalStateException("could not call " + method, ex);
		}
	}

	private static Access access() {
		Access current = access;
		if (current == null) {
			current = new Access();
			access = current;
		}
		return current;
	}

	/** The reflective handles, looked up once; the lookup is what fails without the option. */
	private static final class Access {

		final Class<?> selChImpl;

		final Method getFDVal;

		final Method fdVal;

		final Method newFD;

		final Constructor<?> serverSocketChannel;

		final Constructor<?> datagramChannel;

		final Constructor<?> socketChannel;

		Access() {
			try {
				this.selChImpl = Class.forName("sun.nio.ch.SelChImpl");
				this.getFDVal = accessible(this.selChImpl.getMethod("getFDVal"));
				Class<?> ioUtil = Class.forName("sun.nio.ch.IOUtil");
				this.fdVal = accessible(ioUtil.getDeclaredMethod("fdVal", FileDescriptor.class));
				this.newFD = accessible(ioUtil.getDeclaredMethod("newFD", int.class));
				this.serverSocketChannel = accessible(Class.forName("sun.nio.ch.ServerSocketChannelImpl")
					.getDeclaredConstructor(SelectorProvider.class, ProtocolFamily.class, FileDescriptor.class,
							boolean.class));
				this.datagramChannel = accessible(Class.forName("sun.nio.ch.DatagramChannelImpl")
					.getDeclaredConstructor(SelectorProvider.class, FileDescriptor.class));
				this.socketChannel = accessible(Class.forName("sun.nio.ch.SocketChannelImpl")
					.getDeclaredConstructor(SelectorProvider.class, ProtocolFamily.class, FileDescriptor.class,
							SocketAddress.class));
			}
			catch (InaccessibleObjectException ex) {
				throw new UnsupportedEnvironmentException(PROBLEM, HOW_TO_FIX, ex);
			}
			catch (ReflectiveOperationException ex) {
				throw new UnsupportedEnvironmentException("this JDK (" + Runtime.version()
						+ ") lacks the socket channel internals tableflip was built for",
						"Run the service on an OpenJDK-based JDK 17 or later (this project is tested on 17 and 25)", ex);
			}
		}

		private static <T extends AccessibleObject> T accessible(T member) {
			member.setAccessible(true);
			return member;
		}

	}

}
