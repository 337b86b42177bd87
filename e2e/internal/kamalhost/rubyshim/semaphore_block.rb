# Loaded by the kamalhost test harness (RUBYOPT=-r) before Kamal.
#
# Kamal 2.12 limits concurrent SSH connection starts with
# `Concurrent::Semaphore#acquire { ... }` and uses the block's value as the
# connection. concurrent-ruby takes that block only from 1.1.7 on; Debian 12's
# ruby-concurrent 1.1.6 ignores it and returns nil, so every remote command
# fails with "undefined method `open_channel' for nil". This adds the block
# form where it is missing and changes nothing where it works.
require "concurrent"

unless Concurrent::Semaphore.new(1).acquire { :yielded } == :yielded
  module KamalhostSemaphoreBlock
    def acquire(permits = 1)
      return super unless block_given?

      super
      begin
        yield
      ensure
        release(permits)
      end
    end
  end
  Concurrent::Semaphore.prepend(KamalhostSemaphoreBlock)
end
