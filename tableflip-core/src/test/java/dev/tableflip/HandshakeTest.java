package dev.tableflip;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;

import dev.tableflip.Descriptor.Kind;
import dev.tableflip.Handshake.Frame;
import dev.tableflip.Handshake.ProtocolException;
import dev.tableflip.Handshake.Type;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/** The frame format: what is accepted, and the name of everything that is not. */
class HandshakeTest {

	@Test
	void framesRoundTrip() throws IOException {
		assertThat(Handshake.parseHello(read(Handshake.hello("secret", 42))))
			.isEqualTo(new Handshake.Hello("secret", 42));
		assertThat(Handshake.parseEnd(read(Handshake.end(3, 2, 7, Map.of("cause", "signal")))))
			.isEqualTo(new Handshake.End(3, 2, 7, Map.of("cause", "signal")));
		assertThat(Handshake.parseRefused(read(Handshake.refused("no")))).isEqualTo("no");
		assertThat(read(Handshake.ready()).type()).isEqualTo(Type.READY);
	}

	@Test
	void descriptorFrameMustCarryADescriptor() throws IOException {
		Frame frame = read(Handshake.descriptor(new Descriptor(Kind.LISTENER, "tcp", ":8080")));
		assertThatExceptionOfType(ProtocolException.class).isThrownBy(() -> Handshake.parseDescriptor(frame))
			.withMessage("expected a DESCRIPTOR message with 1 descriptor(s), got DESCRIPTOR with 0");
	}

	@Test
	void endOfStreamBeforeAFrameIsNoFrame() throws IOException {
		assertThat(read(ByteBuffer.allocate(0))).isNull();
	}

	@Test
	void foreignBytesAreNamed() {
		assertFails(ByteBuffer.wrap("GET / HTTP/1.1\r\n".getBytes()), "not a tableflip handoff message");
	}

	@Test
	void otherVersionsAreNamed() {
		ByteBuffer frame = Handshake.ready();
		frame.put(4, (byte) 2);
		assertFails(frame, "handoff protocol version 2 is not supported, this side speaks version 1");
	}

	@Test
	void unknownTypesAreNamed() {
		ByteBuffer frame = Handshake.ready();
		frame.put(5, (byte) 77);
		assertFails(frame, "unknown handoff message type 77");
	}

	@Test
	void oversizedPayloadsAreRefusedBeforeReading() {
		ByteBuffer frame = Handshake.ready();
		frame.putInt(6, Integer.MAX_VALUE);
		assertFails(frame, "declares 2147483647 payload bytes");
	}

	@Test
	void truncatedHeadersAndPayloadsAreNamed() {
		assertFails(ByteBuffer.wrap(new byte[] { 'T', 'F', 'L' }), "truncated message");
		ByteBuffer hello = Handshake.hello("secret", 42);
		assertFails(hello.limit(hello.limit() - 3), "truncated HELLO message");
	}

	@Test
	void extraPayloadBytesAreNamed() throws IOException {
		ByteBuffer end = Handshake.end(1, 0, 1, Map.of());
		ByteBuffer longer = ByteBuffer.allocate(end.remaining() + 2).put(end);
		longer.putInt(6, longer.capacity() - Handshake.HEADER_BYTES).rewind();
		Frame frame = read(longer);
		assertThatExceptionOfType(ProtocolException.class).isThrownBy(() -> Handshake.parseEnd(frame))
			.withMessageContaining("2 unexpected extra bytes");
	}

	private static void assertFails(ByteBuffer bytes, String message) {
		assertThatExceptionOfType(ProtocolException.class).isThrownBy(() -> read(bytes))
			.withMessageContaining(message);
	}

	/** Reads a frame from bytes, a few at a time, as a stream socket may deliver them. */
	private static Frame read(ByteBuffer bytes) throws IOException {
		return Handshake.read((dst, fds) -> {
			if (!bytes.hasRemaining()) {
				return -1;
			}
			int n = Math.min(Math.min(3, dst.remaining()), bytes.remaining());
			for (int i = 0; i < n; i++) {
				dst.put(bytes.get());
			}
			return n;
		});
	}


}
