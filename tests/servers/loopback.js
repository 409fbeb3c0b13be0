// loopback.js — node preload (`node -r ./loopback.js app.js`) that forces every
// TCP server in the process (net, http, https, tls, http2 all inherit from
// net.Server) to listen on 127.0.0.1 only, whatever host the app asked for.
// Used for kinesis-local (kinesis-mock), which otherwise binds 0.0.0.0 / "::".
// Override the address with LOOPBACK_HOST (must itself be a loopback address).
'use strict';
const net = require('net');
const HOST = process.env.LOOPBACK_HOST || '127.0.0.1';
const orig = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  const first = args[0];
  let opts;
  if (first !== null && typeof first === 'object' && !first._handle && !('fd' in first)) {
    if (first.path !== undefined) return orig.call(this, first, cb); // unix socket
    opts = { ...first, host: HOST, ipv6Only: false };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog]) — drop whatever host was given
    opts = { port: Number(first), host: HOST };
    const backlog = args.find((a, i) => i > 0 && typeof a === 'number');
    if (backlog !== undefined) opts.backlog = backlog;
  } else if (first === undefined) {
    opts = { port: 0, host: HOST };
  } else {
    return orig.call(this, ...args, ...(cb ? [cb] : [])); // unix path / handle
  }
  return cb ? orig.call(this, opts, cb) : orig.call(this, opts);
};
