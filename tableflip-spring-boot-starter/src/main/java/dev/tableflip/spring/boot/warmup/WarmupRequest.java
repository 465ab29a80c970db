package dev.tableflip.spring.boot.warmup;

import org.jspecify.annotations.Nullable;

/**
 * A request the warm-up sends.
 * @param method the HTTP method
 * @param path the path and query, starting with {@code /}
 * @param body the body, or {@code null} for none
 * @param contentType the body's content type
 */
public record WarmupRequest(String method, String path, @Nullable String body, String contentType) {

	@Override
	public String toString() {
		return this.method + " " + this.path;
	}

}
