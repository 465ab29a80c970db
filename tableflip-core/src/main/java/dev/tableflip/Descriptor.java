package dev.tableflip;

import java.util.Objects;

/**
 * The name under which a descriptor is registered and handed over: what it is, its network
 * and its address, as in tableflip ({@code listener tcp 127.0.0.1:8080}).
 *
 * @param kind what the descriptor is
 * @param network the network ({@code tcp}, {@code tcp4}, {@code tcp6}, {@code unix},
 * {@code udp}...), empty for files
 * @param address the address, or a file's name
 */
public record Descriptor(Kind kind, String network, String address) {

	/** What a handed-over descriptor is. */
	public enum Kind {

		/** A listening stream socket, a {@code ServerSocketChannel}. */
		LISTENER,

		/** A bound datagram socket, a {@code DatagramChannel}. */
		PACKET,

		/** A connected stream socket, a {@code SocketChannel}. */
		CONN,

		/** Any other descriptor, a {@code FileDescriptor}. */
		FILE

	}

	public Descriptor {
		Objects.requireNonNull(kind, "kind");
		Objects.requireNonNull(network, "network");
		Objects.requireNonNull(address, "address");
	}

	@Override
	public String toString() {
		return (this.kind.name().toLowerCase() + " " + this.network + " " + this.address).replace("  ", " ");
	}

}
