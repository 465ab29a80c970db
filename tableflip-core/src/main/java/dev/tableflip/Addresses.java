package dev.tableflip;

import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;

import dev.tableflip.Descriptor.Kind;

/** Go-style network names and {@code host:port} strings, to and from JDK addresses. */
final class Addresses {

	private Addresses() {
	}

	/**
	 * The protocol family for a network name, or {@code null} for the JDK's default family
	 * ({@code tcp}, {@code udp}); fails clearly for a name that makes no sense for the kind.
	 */
	static ProtocolFamily family(String network, Kind kind) {
		boolean stream = kind == Kind.LISTENER || kind == Kind.CONN;
		switch (stream ? network : "packet:" + network) {
			case "tcp", "packet:udp":
				return null;
			case "tcp4", "packet:udp4":
				return StandardProtocolFamily.INET;
			case "tcp6", "packet:udp6":
				return StandardProtocolFamily.INET6;
			case "unix":
				return StandardProtocolFamily.UNIX;
			default:
				String expected = stream ? "tcp, tcp4, tcp6 or unix"
						: "udp, udp4 or udp6 (the JDK has no UNIX datagram channels)";
				throw new IllegalArgumentException("unsupported network '" + network + "' for a "
						+ kind.name().toLowerCase() + ": use " + expected);
		}
	}

	/** Parses {@code host:port}, {@code :port} or {@code [v6]:port}; an empty host is the wildcard. */
	static InetSocketAddress parse(String address) {
		int colon = address.lastIndexOf(':');
		if (colon < 0) {
			throw new IllegalArgumentException("address '" + address + "' is not host:port");
		}
		String host = address.substring(0, colon);
		int port;
		try {
			port = Integer.parseInt(address.substring(colon + 1));
		}
		catch (NumberFormatException ex) {
			throw new IllegalArgumentException("address '" + address + "' has no valid port");
		}
		if (host.startsWith("[") && host.endsWith("]")) {
			host = host.substring(1, host.length() - 1);
		}
		return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
	}

	/** Formats an address as {@code host:port}, keeping the host as the caller gave it. */
	static String format(InetSocketAddress address) {
		String host = address.isUnresolved() || address.getAddress() == null ? address.getHostString()
				: address.getAddress().isAnyLocalAddress() ? "" : address.getHostString();
		return (host.contains(":") ? "[" + host + "]" : host) + ":" + address.getPort();
	}

	/**
	 * The name to register a socket under: the requested address, with the port it got
	 * instead of a requested port 0.
	 */
	static String bound(String requested, SocketAddress local) {
		if (local instanceof InetSocketAddress inet && requested.endsWith(":0")) {
			return requested.substring(0, requested.length() - 1) + inet.getPort();
		}
		return requested;
	}

}
