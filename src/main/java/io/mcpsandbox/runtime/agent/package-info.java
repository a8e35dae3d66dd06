/**
 * The host side of the in-sandbox agent's protocol (docs/agent-protocol.md), used by every backend. Everything
 * the agent sends is hostile input: {@link io.mcpsandbox.runtime.agent.FrameReader} parses frames strictly and
 * within one frame's memory, {@link io.mcpsandbox.runtime.agent.ChannelState} keeps the order rules,
 * {@link io.mcpsandbox.runtime.agent.AgentProcess} counts each process's output for the caller's caps,
 * {@code FileOperation} keeps each file operation's replies within what the host asked for, and
 * {@link io.mcpsandbox.runtime.agent.AgentChannel} ties them to a reader thread and a
 * {@link io.mcpsandbox.runtime.agent.FrameWriter}. Any violation ends the channel with an
 * {@link io.mcpsandbox.runtime.agent.AgentProtocolException} that names the frame.
 */
package io.mcpsandbox.runtime.agent;
