package dev.tableflip;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The handoff protocol between an old process (the parent) and the new one (the child),
 * spoken over a private UNIX socket. Every message is a frame: the magic {@code TFLP}, a
 * version byte, a type byte, a 4-byte payload length and the payload.
 *
 * <pre>
 * child  -&gt; parent   HELLO       token, pid
 * parent -&gt; child    DESCRIPTOR  kind, network, address   (+1 descriptor, SCM_RIGHTS)
 *                    ... one per handed-over descriptor
 * parent -&gt; child    END         generation, count, parent pid, notes (key/value pairs)
 * child  -&gt; parent   READY
 * child  -&gt; parent   FAILED      reason                   (instead of READY: it will not serve)
 * parent -&gt; child    REFUSED     reason                   (instead of the above, on a bad HELLO)
 * </pre>
 *
 * The parent then keeps its end open until it exits: end of stream tells the child its parent
 * is gone.
 */
final class Handshake {

	/** {@code "TFLP"}. */
	static final int MAGIC = 0x54464C50;

	/** The version this code speaks; a peer speaking another one is refused. */
	static final int VERSION = 1;

	static final int HEADER_BYTES = 10;

	static final int MAX_PAYLOAD_BYTES = 64 * 1024;

	/** The environment variable that names the rendezvous socket for the child. */
	static final String ENV_SOCKET = "TABLEFLIP_HANDOFF_SOCKET";

	/** The environment variable that carries the one-time token for the child. */
	static final String ENV_TOKEN = "TABLEFLIP_HANDOFF_TOKEN";

	/**
	 * The environment variable with the pid of the process that started this one: if the
	 * handoff fails and that process is gone, the new process starts on its own.
	 */
	static final String ENV_PARENT_PID = "TABLEFLIP_PARENT_PID";

	private Handshake() {
	}

	/** The kinds of frame. */
	enum Type {

		HELLO(1), DESCRIPTOR(2), END(3), READY(4), REFUSED(5), FAILED(6);

		final int code;

		Type(int code) {
			this.code = code;
		}

		static Type of(int code) {
			for (Type type : values()) {
				if (type.code == code) {
					return type;
				}
			}
			return null;
		}

	}

	/** A malformed, truncated, foreign or unexpected message. */
	static final class ProtocolException extends IOException {

		private static final long serialVersionUID = 1L;

		ProtocolException(String message) {
			super(message);
		}

	}

	/** Where frames are read from: a channel, or {@code recvmsg} when descriptors may come along. */
	@FunctionalInterface
	interface Input {

		/** Reads into {@code dst}, adding received descriptors to {@code fds}; -1 at end of stream. */
		int read(ByteBuffer dst, List<Integer> fds) throws IOException;

	}

	/** A received frame and the descriptors that came with it. */
	record Frame(Type type, byte[] payload, List<Integer> fds) {

		DataInputStream data() {
			return new DataInputStream(new ByteArrayInputStream(this.payload));
		}

		/** Fails unless this frame is of the expected type, closing any descriptors it carries. */
		Frame expect(Type expected, int expectedFds) throws ProtocolException {
			if (this.type != expected || this.fds.size() != expectedFds) {
				this.fds.forEach(Native::close);
				throw new ProtocolException("expected a " + expected + " message with " + expectedFds
						+ " descriptor(s), got " + this.type + " with " + this.fds.size());
			}
			return this;
		}

	}

	record Hello(String token, long pid) {
	}

	/**
	 * The end of the handoff. {@code notes} carry what the new process should know of its
	 * line (see {@link Lineage}); keys a side does not know are ignored, so that either side
	 * may add some.
	 */
	record End(int generation, int count, long parentPid, Map<String, String> notes) {
	}

	/**
	 * Reads one frame.
	 * @return the frame, or {@code null} if the stream ended cleanly before it
	 */
	static Frame read(Input input) throws IOException {
		List<Integer> fds = new ArrayList<>();
		ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
		if (!readFully(input, header, fds)) {
			if (header.position() == 0 && fds.isEmpty()) {
				return null;
			}
			throw closing(fds, "truncated message: the stream ended after " + header.position() + " of "
					+ HEADER_BYTES + " header bytes");
		}
		header.flip();
		int magic = header.getInt();
		if (magic != MAGIC) {
			throw closing(fds, String.format("not a tableflip handoff message (magic 0x%08x, expected 0x%08x)", magic,
					MAGIC));
		}
		int version = header.get() & 0xff;
		if (version != VERSION) {
			throw closing(fds, "handoff protocol version " + version + " is not supported, this side speaks version "
					+ VERSION + ": old and new process must run compatible tableflip versions");
		}
		int code = header.get() & 0xff;
		Type type = Type.of(code);
		if (type == null) {
			throw closing(fds, "unknown handoff message type " + code);
		}
		int length = header.getInt();
		if (length < 0 || length > MAX_PAYLOAD_BYTES) {
			throw closing(fds, "handoff message " + type + " declares " + length + " payload bytes (at most "
					+ MAX_PAYLOAD_BYTES + ")");
		}
		ByteBuffer payload = ByteBuffer.allocate(length);
		if (!readFully(input, payload, fds)) {
			throw closing(fds, "truncated " + type + " message: the stream ended after " + payload.position() + " of "
					+ length + " payload bytes");
		}
		return new Frame(type, payload.array(), fds);
	}

	static ByteBuffer hello(String token, long pid) {
		return encode(Type.HELLO, (out) -> {
			out.writeUTF(token);
			out.writeLong(pid);
		});
	}

	static ByteBuffer descriptor(Descriptor descriptor) {
		return encode(Type.DESCRIPTOR, (out) -> {
			out.writeUTF(descriptor.kind().name());
			out.writeUTF(descriptor.network());
			out.writeUTF(descriptor.address());
		});
	}

	static ByteBuffer end(int generation, int count, long parentPid, Map<String, String> notes) {
		return encode(Type.END, (out) -> {
			out.writeInt(generation);
			out.writeInt(count);
			out.writeLong(parentPid);
			out.writeShort(notes.size());
			for (Map.Entry<String, String> note : notes.entrySet()) {
				out.writeUTF(note.getKey());
				out.writeUTF(note.getValue());
			}
		});
	}

	static ByteBuffer ready() {
		return encode(Type.READY, (out) -> {
		});
	}

	static ByteBuffer refused(String reason) {
		return encode(Type.REFUSED, (out) -> out.writeUTF(reason));
	}

	static ByteBuffer failed(String reason) {
		return encode(Type.FAILED, (out) -> out.writeUTF(reason));
	}

	static Hello parseHello(Frame frame) throws ProtocolException {
		return parse(frame.expect(Type.HELLO, 0), (in) -> new Hello(in.readUTF(), in.readLong()));
	}

	static Descriptor parseDescriptor(Frame frame) throws ProtocolException {
		return parse(frame.expect(Type.DESCRIPTOR, 1), (in) -> {
			String kind = in.readUTF();
			try {
				return new Descriptor(Descriptor.Kind.valueOf(kind), in.readUTF(), in.readUTF());
			}
			catch (IllegalArgumentException ex) {
				frame.fds().forEach(Native::close);
				throw new ProtocolException("unknown descriptor kind '" + kind + "'");
			}
		});
	}

	static End parseEnd(Frame frame) throws ProtocolException {
		return parse(frame.expect(Type.END, 0), (in) -> {
			int generation = in.readInt();
			int count = in.readInt();
			long parentPid = in.readLong();
			int size = in.readUnsignedShort();
			Map<String, String> notes = new LinkedHashMap<>();
			for (int i = 0; i < size; i++) {
				notes.put(in.readUTF(), in.readUTF());
			}
			return new End(generation, count, parentPid, Map.copyOf(notes));
		});
	}

	static String parseRefused(Frame frame) throws ProtocolException {
		return parse(frame.expect(Type.REFUSED, 0), (in) -> in.readUTF());
	}

	static String parseFailed(Frame frame) throws ProtocolException {
		return parse(frame.expect(Type.FAILED, 0), (in) -> in.readUTF());
	}

	private interface Reader<T> {

		T read(DataInputStream in) throws IOException;

	}

	private interface Writer {

		void write(DataOutputStream out) throws IOException;

	}

	private static <T> T parse(Frame frame, Reader<T> reader) throws ProtocolException {
		try (DataInputStream in = frame.data()) {
			T value = reader.read(in);
			if (in.available() > 0) {
				throw new ProtocolException(frame.type() + " message has " + in.available() + " unexpected extra bytes");
			}
			return value;
		}
		catch (ProtocolException ex) {
			throw ex;
		}
		catch (EOFException ex) {
			frame.fds().forEach(Native::close);
			throw new ProtocolException("truncated " + frame.type() + " message payload");
		}
		catch (IOException ex) {
			frame.fds().forEach(Native::close);
			throw new ProtocolException("malformed " + frame.type() + " message: " + ex.getMessage());
		}
	}

	private static ByteBuffer encode(Type type, Writer writer) {
		try {
			ByteArrayOutputStream bytes = new ByteArrayOutputStream();
			DataOutputStream out = new DataOutputStream(bytes);
			out.writeInt(MAGIC);
			out.writeByte(VERSION);
			out.writeByte(type.code);
			out.writeInt(0);
			writer.write(out);
			ByteBuffer frame = ByteBuffer.wrap(bytes.toByteArray());
			frame.putInt(6, frame.capacity() - HEADER_BYTES);
			return frame;
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex); // cannot happen writing to memory
		}
	}

	private static boolean readFully(Input input, ByteBuffer dst, List<Integer> fds) throws IOException {
		while (dst.hasRemaining()) {
			if (input.read(dst, fds) < 0) {
				return false;
			}
		}
		return true;
	}

	private static ProtocolException closing(List<Integer> fds, String message) {
		fds.forEach(Native::close);
		return new ProtocolException(message);
	}

}
