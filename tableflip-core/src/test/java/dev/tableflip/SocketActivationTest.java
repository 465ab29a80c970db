package dev.tableflip;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.util.Map;

import dev.tableflip.Descriptor.Kind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIOException;

/**
 * How sockets passed by systemd are named: real sockets of each kind, described from their
 * descriptors the way they are when systemd passes them as descriptors 3, 4... (the passing
 * itself runs under a real systemd in the sample's {@code SystemdIT}).
 */
class SocketActivationTest {

	@TempDir
	Path directory;

	@Test
	void listenersAreNamedByTheAddressTheApplicationAsksFor() throws IOException {
		try (ServerSocketChannel loopback = ServerSocketChannel.open();
				ServerSocketChannel wildcard = ServerSocketChannel.open();
				ServerSocketChannel v6 = ServerSocketChannel.open(StandardProtocolFamily.INET6)) {
			loopback.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
			wildcard.bind(new InetSocketAddress(0));
			v6.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));

			assertThat(describe(loopback)).isEqualTo(new Descriptor(Kind.LISTENER, "tcp",
					"127.0.0.1:" + port(loopback)));
			assertThat(describe(wildcard)).isEqualTo(new Descriptor(Kind.LISTENER, "tcp", ":" + port(wildcard)));
			assertThat(describe(v6)).isEqualTo(new Descriptor(Kind.LISTENER, "tcp",
					"[0:0:0:0:0:0:0:1]:" + port(v6)));
		}
	}

	@Test
	void unixListenersDatagramSocketsAndOthersAreNamedToo() throws IOException {
		Path path = this.directory.resolve("api.sock");
		try (ServerSocketChannel unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
				DatagramChannel udp = DatagramChannel.open();
				ServerSocketChannel unbound = ServerSocketChannel.open()) {
			unix.bind(UnixDomainSocketAddress.of(path));
			udp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));

			assertThat(describe(unix)).isEqualTo(new Descriptor(Kind.LISTENER, "unix", path.toString()));
			assertThat(describe(udp)).isEqualTo(new Descriptor(Kind.PACKET, "udp",
					"127.0.0.1:" + ((InetSocketAddress) udp.getLocalAddress()).getPort()));
			assertThat(describe(unbound)).as("not listening: a file under its name")
				.isEqualTo(new Descriptor(Kind.FILE, "", "http"));
		}
	}

	@Test
	void variablesForAnotherProcessAreIgnored() throws IOException {
		long other = ProcessHandle.current().pid() + 1;
		assertThat(SocketActivation.passed(Map.of("LISTEN_PID", Long.toString(other), "LISTEN_FDS", "1"),
				ProcessHandle.current().pid())).isEmpty();
		assertThat(SocketActivation.passed(Map.of(), ProcessHandle.current().pid())).isEmpty();
	}

	@Test
	void malformedCountIsAClearError() {
		long pid = ProcessHandle.current().pid();
		assertThatIOException()
			.isThrownBy(() -> SocketActivation.passed(Map.of("LISTEN_PID", Long.toString(pid), "LISTEN_FDS", "two"),
					pid))
			.withMessageContaining("LISTEN_FDS='two' is not a number of sockets passed by systemd socket activation");
	}

	private static Descriptor describe(java.nio.channels.NetworkChannel channel) throws IOException {
		return SocketActivation.describe(JdkChannels.fdOf(channel), "http");
	}

	private static int port(ServerSocketChannel channel) throws IOException {
		return ((InetSocketAddress) channel.getLocalAddress()).getPort();
	}

}
