package dev.tableflip;

import java.io.IOException;
import java.net.SocketOption;
import java.nio.channels.NetworkChannel;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How {@link Fds} creates the sockets it does not inherit: the listen backlog and socket
 * options. Inherited sockets keep the settings their first creator gave them. Immutable.
 */
public final class ListenConfig {

	private static final ListenConfig DEFAULT = new ListenConfig(0, Map.of());

	private final int backlog;

	private final Map<SocketOption<?>, Object> options;

	private ListenConfig(int backlog, Map<SocketOption<?>, Object> options) {
		this.backlog = backlog;
		this.options = options;
	}

	/** The defaults: the system's largest backlog ({@code net.core.somaxconn}), the JDK's socket options. */
	public static ListenConfig defaults() {
		return DEFAULT;
	}

	/**
	 * Returns a copy with another listen backlog.
	 * @param backlog the maximum number of pending connections, or 0 for the system's maximum
	 */
	public ListenConfig withBacklog(int backlog) {
		if (backlog < 0) {
			throw new IllegalArgumentException("backlog must be 0 (the system's maximum) or positive, not " + backlog);
		}
		return new ListenConfig(backlog, this.options);
	}

	/** Returns a copy that also sets a socket option on every socket it creates. */
	public <T> ListenConfig withOption(SocketOption<T> option, T value) {
		Map<SocketOption<?>, Object> options = new LinkedHashMap<>(this.options);
		options.put(option, value);
		return new ListenConfig(this.backlog, Collections.unmodifiableMap(options));
	}

	/** The listen backlog, 0 for the system's maximum. */
	public int backlog() {
		return this.backlog;
	}

	/** The socket options set on new sockets. */
	public Map<SocketOption<?>, Object> options() {
		return this.options;
	}

	@SuppressWarnings({ "unchecked", "rawtypes" })
	void apply(NetworkChannel channel) throws IOException {
		for (Map.Entry<SocketOption<?>, Object> option : this.options.entrySet()) {
			if (channel.supportedOptions().contains(option.getKey())) {
				channel.setOption((SocketOption) option.getKey(), option.getValue());
			}
		}
	}

}
